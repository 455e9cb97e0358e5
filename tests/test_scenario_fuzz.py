"""scenario.yaml fuzzed: any document loads as a Scenario or is refused with one KsauditError.

Documents start from a valid one; hypothesis replaces values at random places with
values of any YAML type (dates, binary, floats, nested lists, mappings), drops or
adds keys, and splices bytes into the text (tags, anchors, bad UTF-8).  Derandomized
and bounded for CI; ``KSAUDIT_FUZZ_EXAMPLES=2000`` gives a longer, randomized local run.
"""

import copy
import datetime
import os
from datetime import timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from ksaudit.errors import KsauditError
from ksaudit.scenario import Scenario, load_scenario

_EXAMPLES = int(os.environ.get("KSAUDIT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 100, deadline=timedelta(seconds=2),
                derandomize=not _EXAMPLES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

VALID = {
    "build": "2026.11.3-rc1", "platform": "linux", "scenario": "process-kill",
    "description": "force-quit the VPN process",
    "device": {"tunnel_interfaces": ["wg0"], "physical_interfaces": ["wlan0"],
               "addresses": ["192.168.50.2"], "ifindex": {2: "wlan0", 3: "wg0"}},
    "vpn": {"endpoints": ["198.51.100.2:51820/udp", "[2001:db8::2]:51820/udp"],
            "processes": ["wireguard-go"], "blocks_when_disconnected": True},
    "policy": {"allow_lan": False, "allow": ["udp/5353", "203.0.113.53/32"],
               "tolerance_us": 1000},
    "captures": [{"file": "device.pcapng", "vantage": "device", "clock": "device",
                  "dropped": None, "interface": "wlan0"}],
    "logs": [{"file": "logs/journal.json", "format": "journald-json", "clock": "device",
              "timezone": "UTC", "year": 2026}],
    "clocks": {"device": {"offset_ns": 0}},
    "window": None, "rules": [{"name": "r", "kind": "tunnel_down", "regex": "down"}],
    "incomplete": False, "notes": ["n"],
}

SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
           | st.text(max_size=20) | st.binary(max_size=8)
           | st.dates(datetime.date(1, 1, 1), datetime.date(9999, 12, 31))
           | st.sampled_from(["", "..", "../x", "/etc/passwd", "a\\b", "x" * 300, "1e400",
                              "0:0/udp", "[::]:0/udp", "udp/0", "300.1.1.1:1/udp", "tcp/*",
                              "ff::/200", "-1", "Europe/Nowhere", "wg0"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), inner,
                                        max_size=3), max_leaves=8)


def _paths(doc, prefix=()):
    """Every place in the document a value sits (mapping keys and list items)."""
    yield prefix
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


@st.composite
def documents(draw):
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        places = [p for p in _paths(doc) if p]
        if not places:
            break
        where = draw(st.sampled_from(places))
        parent = doc
        for k in where[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "drop" and isinstance(parent, dict):
            parent.pop(where[-1])
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(VALUES)
        else:
            parent[where[-1]] = draw(VALUES)
    text = yaml.safe_dump(doc, allow_unicode=True).encode("utf-8")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([
            b"\xff", b"\x00", b"!!python/object:os.system ", b"&a ", b"*a", b"<<: *b\n",
            b"!!binary ", b"!!timestamp ", b"[", b"{", b"\t", b": ", b"\n- ", b"? "])) + text[at:]
    return text


@FUZZ
@given(text=documents())
def test_any_document_loads_or_is_refused(tmp_path, text):
    d = tmp_path / "scn"
    d.mkdir(exist_ok=True)
    (d / "scenario.yaml").write_bytes(text)
    try:
        sc = load_scenario(d)
    except KsauditError as exc:
        assert "\n" not in str(exc).strip()
        return
    assert isinstance(sc, Scenario)
    assert isinstance(sc.to_dict(), dict)


def test_the_unmutated_document_is_valid(tmp_path):
    d = tmp_path / "scn"
    d.mkdir()
    (d / "scenario.yaml").write_text(yaml.safe_dump(VALID))
    assert load_scenario(d).endpoints[1].port == 51820


# what the fuzzer found: tags whose value PyYAML's constructors crash on, a file that is a list
@pytest.mark.parametrize("text, message", [
    ("build: !!timestamp x\n", r"scenario.yaml:1: not valid YAML \('x' is not a valid !!timestamp\)"),
    ("build: a\ndevice:\n  !!timestamp tunnel_interfaces: [wg0]\n", r":3: .*!!timestamp"),
    ("build: !!int abc\n", r"'abc' is not a valid !!int"),
    ("build: !!bool maybe\n", r"'maybe' is not a valid !!bool"),
    ("build: a\nvpn: {endpoints: ['1.2.3.4:1/udp']}\ncaptures: [{file: [a]}]\n",
     r"captures\[0\].file: must be a non-empty string, got \['a'\]"),
    ("build: a\nvpn: {endpoints: ['1.2.3.4:1/udp']}\ncaptures: [{file: a}]\nlogs: [{file: {x: 1}}]\n",
     r"logs\[0\].file: must be a non-empty string"),
])
def test_found_by_fuzzing(tmp_path, text, message):
    (tmp_path / "scenario.yaml").write_text(text)
    with pytest.raises(KsauditError, match=message):
        load_scenario(tmp_path)
