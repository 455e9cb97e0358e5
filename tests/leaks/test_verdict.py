"""decide() against DESIGN.md's lists ("Verdicts fail closed"), not against its own code.

The design names what FAILs (any leak) and each cause of INCONCLUSIVE; these tables
restate the design, so moving a code to the other list, dropping one, or adding a
code without deciding what it means fails here.
"""

import pytest

from ksaudit.leaks.verdict import FAIL_CODES, INCONCLUSIVE_CODES, Reason, decide

# DESIGN.md: "FAIL on any leak" (in an episode, or outside every episode)
DESIGN_FAIL = {
    "a frame left outside the tunnel during an episode": "leak",
    "a frame left outside the tunnel outside any episode": "steady_state_leak",
}
# DESIGN.md: "INCONCLUSIVE whenever the evidence cannot prove a pass: ..."
DESIGN_INCONCLUSIVE = {
    "the capture does not cover the episode": "capture_gap",
    "the capture reports dropped packets": "dropped_packets",
    "the file is truncated inside an episode": "truncated_capture",
    "no tunnel-down event was found": "no_tunnel_down",
    "clock uncertainty is wider than the scenario's tolerance": "clock_uncertainty",
    "a declared log source is missing": "log_missing",
    "no traffic was attempted during the episode": "no_traffic_attempted",
    "the device's addresses cannot be known at an external vantage point":
        "device_addresses_unknown",
}
# added by the project on the same principle (the evidence cannot prove a pass)
PROJECT_INCONCLUSIVE = {
    "the evidence contradicts a declaration in scenario.yaml": "declarations_contradicted",
    "the recording was cut short (scenario.yaml incomplete: true)": "incomplete_evidence",
}


def test_every_code_is_decided_by_the_design_or_the_project():
    assert set(FAIL_CODES) == set(DESIGN_FAIL.values())
    assert set(INCONCLUSIVE_CODES) == set(DESIGN_INCONCLUSIVE.values()) | \
        set(PROJECT_INCONCLUSIVE.values())
    assert not set(FAIL_CODES) & set(INCONCLUSIVE_CODES)


@pytest.mark.parametrize("why, code", list(DESIGN_FAIL.items()))
def test_any_leak_fails(why, code):
    v = decide([Reason(code, why)])
    assert (v.status, v.exit_code) == ("FAIL", 1)


@pytest.mark.parametrize("why, code", list({**DESIGN_INCONCLUSIVE, **PROJECT_INCONCLUSIVE}.items()))
def test_each_cause_is_inconclusive_alone_and_a_leak_still_fails(why, code):
    alone = decide([Reason(code, why, episode=1)])
    assert (alone.status, alone.exit_code) == ("INCONCLUSIVE", 3)
    assert [r.code for r in alone.reasons] == [code]       # named, never dropped
    # a leak that was seen FAILs whatever else is uncertain, before or after it
    for reasons in ([Reason(code, why), Reason("leak", "l")], [Reason("leak", "l"), Reason(code, why)]):
        v = decide(reasons)
        assert (v.status, v.exit_code) == ("FAIL", 1)
        assert {r.code for r in v.reasons} == {code, "leak"}


def test_pass_needs_an_episode_and_no_reason():
    assert (decide([]).status, decide([]).exit_code) == ("PASS", 0)
    # nothing to judge proves nothing (a silent device, no tunnel-down episode)
    assert decide([], has_episode=False).status == "INCONCLUSIVE"
    assert decide([Reason("leak", "l")], has_episode=False).status == "FAIL"


def test_unknown_reason_code_is_refused():
    with pytest.raises(ValueError, match="unknown reason code 'looks_fine'"):
        Reason("looks_fine", "m")
