import json

import pytest

from ksaudit import KsauditError, read_events
from ksaudit.oslogs.base import ALL_COLUMNS
from ksaudit.schema import EVENT_COLUMNS, EVENT_KINDS

T0 = 1_795_587_593_463_073


def _probe(ts, seq):
    return json.dumps({"ts_ns": ts, "seq": seq, "dst": "203.0.113.80:1", "proto": "udp",
                       "result": "sent"}) + "\n"


def test_columns_and_dtypes(write, jline):
    df = read_events(write("j.json", jline(T0, "hello")))
    for col, dtype in EVENT_COLUMNS.items():
        assert str(df[col].dtype) == dtype, col
    assert list(df.columns) == list(ALL_COLUMNS)
    assert list(df["kind"].cat.categories) == list(EVENT_KINDS)


def test_several_files_with_options_sorted_by_time(write, jline):
    j = write("j.json", jline(T0, "a") + jline(T0 + 2, "c"))
    p = write("probe.jsonl", _probe(T0 * 1000 + 1000, 7))
    wg = write("wg.log", "DEBUG: (wg0) 2026/11/25 08:01:02 Device closing\n")
    df = read_events([j, (p, {"clock": "probe-host"}),
                      {"file": str(wg), "format": "wireguard-go", "timezone": "UTC",
                       "clock": "device"}])
    assert df["message"].tolist()[:3] == ["a", "probe 7 udp to 203.0.113.80:1: sent", "c"]
    assert df.loc[df["kind"] == "probe", "source_clock"].tolist() == ["probe-host"]
    assert [f.format for f in df.attrs["files"]] == ["journald-json", "ksaudit-probe",
                                                         "wireguard-go"]
    assert [f.chosen_by for f in df.attrs["files"]] == ["sniffed", "sniffed", "declared"]


def test_unknown_options_and_formats(write, jline):
    j = write("j.json", jline(T0, "a"))
    with pytest.raises(KsauditError, match="unknown log option"):
        read_events([(j, {"timezon": "UTC"})])
    with pytest.raises(KsauditError, match="unknown log format 'journal'"):
        read_events(j, format="journal")
    with pytest.raises(KsauditError, match="cannot read"):
        read_events(write("x", "") .with_name("missing.log"))
    with pytest.raises(KsauditError, match=r"cannot tell the log format \(first line: 'hello world'\)"):
        read_events(write("odd.log", "hello world\n"))
    binary = write("odd.bin", "")
    binary.write_bytes(bytes([0xD4, 0xC3, 0xB2, 0xA1, 0xFF, 0xFE, 0x00, 0x9C, 0x80]) * 10)
    with pytest.raises(KsauditError, match="binary data starting with bytes d4 c3 b2 a1 ff fe 00 9c"):
        read_events(binary)
    with pytest.raises(KsauditError, match="unknown timezone"):
        read_events(j, timezone="Mars/Olympus")


def test_repeated_dst_hour_is_widened_and_flagged(write):
    # Europe/Berlin 2026-10-25: 02:00-03:00 happens twice (CEST then CET).
    text = ("DEBUG: (wg0) 2026/10/25 01:59:59 before\n"
            "DEBUG: (wg0) 2026/10/25 02:30:00 inside the repeated hour\n"
            "DEBUG: (wg0) 2026/10/25 03:00:00 after\n")
    df = read_events(write("wg.log", text), timezone="Europe/Berlin")
    amb = df[df["ambiguous"]]
    assert amb["message"].tolist() == ["inside the repeated hour"]
    row = amb.iloc[0]
    first = 1_792_888_200 * 10**9     # 02:30 CEST = 00:30 UTC
    assert row.ts_ns == row.t_lo_ns == first
    assert row.t_hi_ns == first + 3600 * 10**9 + 10**9   # 02:30 CET + the 1 s quantum
    assert not df.loc[df["message"] != "inside the repeated hour", "ambiguous"].any()
    assert df.attrs["files"][0].ambiguous == 1


def test_empty_file_gives_no_events_but_a_fact(write):
    df = read_events(write("probe.jsonl", ""), format="ksaudit-probe")
    assert len(df) == 0 and df.attrs["files"][0].events == 0
    assert str(df["ts_ns"].dtype) == "int64"


def test_lab_journal_lines_are_recognised(tmp_path):
    journal = pytest.importorskip("ksaudit.lab.journal")
    j = journal.Journal(str(tmp_path / "journal.json"), client_pid=4242)
    ts, mono = 1_795_587_593_463_073_150, 5_000_000_000
    j.nm_device(ts, mono, "wgk1234c", "activated", "disconnected", "user-requested")
    j.client(ts, mono, "tunnel down (link lost)", 4)
    j.client(ts + 10**6, mono + 10**6, "firewall released (test)", 4)
    j.suspend_entry(ts + 10**9, mono + 10**9)
    j.suspend_exit(ts + 5 * 10**9, mono + 5 * 10**9)
    j.kernel(ts + 6 * 10**9, mono + 6 * 10**9, "IPv6: ADDRCONF(NETDEV_CHANGE): wlan0: link becomes ready")
    j.close()
    df = read_events(tmp_path / "journal.json")
    got = [(k, i) for k, i in zip(df["kind"], df["iface"]) if k != "clock_step"]
    assert got == [("tunnel_down", "wgk1234c"), ("tunnel_down", ""), ("firewall_release", ""),
                   ("sleep", ""), ("wake", ""), ("link_up", "wlan0")]
    nm = df.iloc[0]
    assert nm.raw_ts == "1795587593.4630" and nm.quantum_ns == 100_000


def test_timezone_that_is_not_text_is_refused(write):
    import datetime
    path = write("syslog", "Nov 25 08:01:02 host app[1]: x\n")
    with pytest.raises(KsauditError, match="timezone must be a zone name or offset text, not 120"):
        read_events(path, timezone=120, year=2026)      # YAML reads +2:00 as 120
    df = read_events(path, timezone=datetime.timezone.utc, year=2026)
    assert df["ts_ns"].tolist() == [1_795_593_662 * 10**9]
