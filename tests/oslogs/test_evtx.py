import json
from pathlib import Path

import pytest

from ksaudit import read_events
from ksaudit.oslogs import evtx_log, rules
from ksaudit.oslogs.base import ParseContext
from ksaudit.oslogs.pipeline import build_table

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "evtx" / "2-vss_7-System.evtx"


def _record(provider, event_id, data, rid=7, ts="2018-07-07T20:49:33.3760906Z UTC"):
    """A record shaped exactly as evtx.PyEvtxParser.records_json() yields it."""
    event = {"Event": {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
                       "System": {"Provider": {"#attributes": {"Name": provider}},
                                  "EventID": event_id, "EventRecordID": rid,
                                  "TimeCreated": {"#attributes": {"SystemTime": ts[:26] + "Z"}}},
                       "EventData": data}}
    return {"event_record_id": rid, "timestamp": ts, "data": json.dumps(event)}


def _events(recs):
    ctx = ParseContext("x.evtx", "evtx")
    rows = [row for r in recs for row in evtx_log.map_record(r)]
    return build_table(iter(rows), ctx, "evtx", rules.load_rules())


def test_mapping_keys_on_provider_and_id():
    recs = [_record("Microsoft-Windows-Kernel-General", 1,
                    {"NewTime": "2018-07-07T20:49:33.377003Z", "OldTime": "2018-07-07T21:49:33Z"}),
            _record("Microsoft-Windows-DriverFrameworks-UserMode", 10000, {"x": 1}),
            _record("Microsoft-Windows-NetworkProfile", 10001, {"Name": "Corp WiFi", "Type": 1}),
            _record("Microsoft-Windows-Security-Auditing", 5152,
                    {"Application": "\\device\\x.exe", "DestAddress": "203.0.113.80"}),
            _record("Microsoft-Windows-Security-Auditing", 5157, {}),
            _record("Microsoft-Windows-Security-Auditing", 5156, {}),
            _record("Microsoft-Windows-Kernel-Power", {"#attributes": {"Qualifiers": 0}, "#text": 42}, {}),
            _record("Microsoft-Windows-Kernel-Power", 107, None),
            _record("Microsoft-Windows-Kernel-General", 16, {})]
    ev = _events(recs)
    assert ev["kind"].tolist() == ["clock_step", "other", "link_down", "firewall_block",
                                   "firewall_block", "other", "sleep", "wake", "other"]
    assert ev["iface"].iloc[2] == "Corp WiFi"
    assert ev["rule"].iloc[5] == "win-wfp-permit-connection-5156"
    assert ev["ts_ns"].iloc[0] == 1_530_996_573_376_090_600
    assert ev["quantum_ns"].iloc[0] == 100
    assert ev["message"].iloc[0].startswith("EventID 1: NewTime=2018-07-07T20:49:33.377003Z")


def test_remaining_listed_ids_and_provider_keying():
    recs = [_record("Microsoft-Windows-Security-Auditing", 5031,
                    {"Profiles": "Domain", "Application": "C:\\x.exe"}),
            _record("Microsoft-Windows-NetworkProfile", 10000,
                    {"Name": "Corp WiFi", "Desc": "Corp WiFi", "Type": 1, "State": 1}),
            _record("Some-Other-Provider", 42, {}),      # same ID, another provider
            _record("Some-Other-Provider", 5152, {}),
            _record("Microsoft-Windows-Kernel-Power", 41, {})]
    ev = _events(recs)
    assert ev["kind"].tolist() == ["firewall_block", "link_up", "other", "other", "other"]
    assert ev["rule"].tolist()[:2] == ["win-firewall-blocked-listen-5031",
                                       "win-network-connected-10000"]
    assert ev["iface"].iloc[1] == "Corp WiFi"


def test_power_troubleshooter_uses_its_own_times():
    rec = _record("Microsoft-Windows-Power-Troubleshooter", 1,
                  {"SleepTime": "2018-07-07T18:00:00.123456Z", "WakeTime": "2018-07-07T20:00:00.5Z"})
    ev = _events([rec])
    assert ev["kind"].tolist() == ["sleep", "wake"]
    assert ev["ts_ns"].tolist() == [1_530_986_400_123_456_000, 1_530_993_600_500_000_000]
    assert ev["quantum_ns"].tolist() == [1000, 1000]


def test_bad_record_time_is_malformed_not_fatal():
    with pytest.raises(ValueError):
        evtx_log.map_record(_record("P", 1, {}, ts="yesterday"))


def test_not_an_evtx_file_declared(write):
    from ksaudit import KsauditError
    with pytest.raises(KsauditError):
        read_events(write("x.evtx", b"ElfFile\x00" + b"\x00" * 100), format="evtx")


@pytest.mark.skipif(not CORPUS.exists(), reason="needs ../shared/corpus (not part of the project)")
def test_real_system_log_from_corpus():
    df = read_events(CORPUS)
    fact = df.attrs["files"][0]
    assert fact.format == "evtx" and fact.events == 1160 and fact.malformed == 0
    steps = df[df["kind"] == "clock_step"]
    assert len(steps) == 28 and set(steps["ident"]) == {"Microsoft-Windows-Kernel-General"}
    assert (df["quantum_ns"] == 100).all()


def test_check_length_finds_cut_files():
    head = b"ElfFile\x00" + b"\x00" * 34 + (4).to_bytes(2, "little") + b"\x00" * 4050
    assert evtx_log.check_length(head, 4096 + 4 * 65536) is None
    assert evtx_log.check_length(head, 4096 + 17 * 65536) is None     # dirty: header counts fewer
    assert "counts 4 chunks, it holds 3" in evtx_log.check_length(head, 4096 + 3 * 65536)
    assert "ends 100 bytes into chunk 2" in evtx_log.check_length(head, 4096 + 2 * 65536 + 100)
    assert "not even its 4096-byte header" in evtx_log.check_length(head[:50], 50)


@pytest.mark.skipif(not CORPUS.exists(), reason="needs ../shared/corpus (not part of the project)")
def test_cut_real_file_is_reported_not_silent(write):
    df = read_events(write("cut.evtx", CORPUS.read_bytes()[:200_000]))
    fact = df.attrs["files"][0]
    assert 0 < fact.events < 1160 and fact.malformed == 1
    assert fact.malformed_examples[0].reason.startswith("EVTX file cut short: it ends")
