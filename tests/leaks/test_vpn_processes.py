"""`vpn.processes`: only the VPN client's process events are episode evidence."""

import json
import subprocess

import pytest

from ksaudit import analyze
from ksaudit.leaks.episodes import names_declared_process, process_names
from leak_builder import MS, T0

CUPS_EXIT = "cups.service: Main process exited, code=exited, status=0/SUCCESS"
NOTE = "process exits were not filtered because vpn.processes is not declared"


def _clean_run_with_cups(builder):
    """A strong clean run (probes refused while the tunnel is down) with an unrelated
    service starting inside the episode and exiting after it."""
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    builder.log(1200, "Started cups.service - CUPS Scheduler.", ident="systemd")
    builder.log(2200, CUPS_EXIT, ident="systemd")


def _kinds(a, kind):
    return a.events.loc[a.events["kind"].astype(str) == kind, "message"].tolist()


def test_unrelated_service_exit_opens_no_episode_when_processes_declared(builder):
    _clean_run_with_cups(builder)
    a = analyze(builder.write(**{"vpn.processes": ["wireguard-go", "mullvad-daemon.service"]}))
    assert a.verdict.status == "PASS", a.verdict.reasons
    (ep,) = a.episodes
    assert ep.start_ns == T0 + 1000 * MS and ep.end_ns == T0 + 1500 * MS
    assert not any("cups" in e for e in ep.during_evidence + ep.start_evidence)
    # kept in the event table, just not episode evidence
    assert _kinds(a, "process_exit") == [CUPS_EXIT]
    assert _kinds(a, "process_start") == ["Started cups.service - CUPS Scheduler."]
    assert not any(NOTE in n for n in a.notes)
    assert any(n.startswith("2 process event(s) name none of vpn.processes") for n in a.notes)
    assert a.to_dict()["scenario"]["vpn"]["processes"] == ["wireguard-go",
                                                          "mullvad-daemon.service"]


def test_without_declaration_every_process_exit_still_counts_and_a_note_says_so(builder):
    _clean_run_with_cups(builder)
    a = analyze(builder.write())
    assert len(a.episodes) == 2 and a.verdict.status != "PASS"
    assert a.episodes[1].start_ns == T0 + 2200 * MS
    assert a.episodes[1].start_evidence[0].startswith("process_exit ")
    assert any("cups" in e for e in a.episodes[0].during_evidence)
    assert sum(NOTE in n for n in a.notes) == 1
    assert a.to_dict()["scenario"]["vpn"]["processes"] is None


def test_no_note_without_process_events(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    a = analyze(builder.write())
    assert a.verdict.status == "PASS" and not any("vpn.processes" in n for n in a.notes)


@pytest.mark.parametrize("ident, message, declared", [
    ("systemd", "mullvad-daemon.service: Main process exited, code=killed, status=9/KILL",
     "mullvad-daemon"),
    ("systemd", "mullvad-daemon.service: Main process exited, code=killed, status=9/KILL",
     "mullvad-daemon.service"),
    ("openvpn", "SIGTERM[hard,] received, process exiting", "openvpn"),
])
def test_a_declared_vpn_process_exit_opens_its_episode(builder, ident, message, declared):
    # process-kill: the client dies at 1 s, the firewall holds, it is back at 1.5 s
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.log(1000, message, ident=ident)
    builder.log(1500, "tunnel up dev wg0")
    builder.log(2200, CUPS_EXIT, ident="systemd")
    a = analyze(builder.write(**{"vpn.processes": ["wireguard-go", declared]}))
    assert a.verdict.status == "PASS", a.verdict.reasons
    (ep,) = a.episodes
    assert ep.start_ns == T0 + 1000 * MS and ep.end_ns == T0 + 1500 * MS
    assert ep.start_evidence[0].startswith("process_exit ") and message[:20] in \
        ep.start_evidence[0]


@pytest.mark.parametrize("ident, message, names", [
    ("systemd", "mullvad-daemon.service: Main process exited", {"mullvad-daemon.service",
                                                                 "mullvad-daemon", "systemd"}),
    ("systemd", "Started openvpn-client@mullvad.service.", {"openvpn-client@mullvad.service",
                                                           "openvpn-client@mullvad",
                                                           "openvpn-client", "systemd"}),
    ("/usr/sbin/openvpn[812]", "SIGTERM[hard,] received, process exiting",
     {"/usr/sbin/openvpn", "openvpn"}),
    ("", "wireguard-go[77]: Shutting down", {"wireguard-go"}),
    (None, "", set()),
])
def test_process_names(ident, message, names):
    assert process_names(ident, message) == {n.casefold() for n in names}


def test_declared_names_match_short_forms_both_ways():
    assert names_declared_process("mullvad-daemon", "Shutting down", ["mullvad-daemon.service"])
    assert names_declared_process("Mullvad-Daemon", "x", ["mullvad-daemon"])
    assert not names_declared_process("systemd", CUPS_EXIT, ["mullvad-daemon.service", "cupsd"])


@pytest.mark.parametrize("value, where", [
    ("wireguard-go", "vpn.processes: must be a list"),
    ([], "vpn.processes: must name at least one"),
    (None, "vpn.processes: must be a list"),
    (["wireguard-go", ""], r"vpn.processes\[1\]: must be a non-empty"),
    (["  "], r"vpn.processes\[0\]: must be a non-empty"),
    ([3], r"vpn.processes\[0\]: must be a non-empty"),
    ([["openvpn"]], r"vpn.processes\[0\]: must be a non-empty"),
])
def test_bad_processes_are_one_line_errors(builder, capsys, value, where):
    import re
    from ksaudit.cli import main
    builder.probes_run(0, 200, lambda t: "up")
    root = builder.write(**{"vpn.processes": value})
    code = main(["analyze", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and re.search(where, err), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_json_document_carries_the_field(builder, tmp_path):
    import sys
    builder.probes_run(0, 500, lambda t: "up")
    root = builder.write(**{"vpn.processes": ["openvpn"]})
    out = tmp_path / "a.json"
    subprocess.run([sys.executable, "-m", "ksaudit.cli", "analyze", str(root), "--json",
                    str(out)], capture_output=True, text=True, timeout=120)
    assert json.loads(out.read_text())["scenario"]["vpn"]["processes"] == ["openvpn"]
