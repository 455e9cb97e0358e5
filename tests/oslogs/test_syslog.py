import os
import struct

import pytest

from ksaudit import KsauditError, read_events

NS = 10**9


def test_rfc3164_zone_year_rollover_and_pri(write):
    text = ("<30>Dec 31 23:59:59 host kernel: e1000e 0000:00:19.0 eth0: NIC Link is Down\n"
            "Jan  1 00:00:01 host NetworkManager[612]: <info>  [1798758001.5000] manager: "
            "NetworkManager state is now DISCONNECTED\n"
            "--- last message repeated 2 times ---\n"
            "Jan  1 00:00:02.250 host systemd[1]: Time has been changed\n")
    df = read_events(write("syslog", text), timezone="Europe/Berlin", year=2026)
    # 2026-12-31 23:59:59 CET = 22:59:59 UTC; next line is 2027
    assert df["ts_ns"].tolist() == [1_798_757_999 * NS, 1_798_758_001_500_000_000,
                                    1_798_758_002_250_000_000]
    assert df["quantum_ns"].tolist() == [NS, 100_000, 1_000_000]
    assert df["kind"].tolist() == ["link_down", "network_change", "clock_step"]
    assert df["ident"].tolist() == ["kernel", "NetworkManager", "systemd"]
    assert df["raw_ts"].tolist()[0] == "Dec 31 23:59:59"
    assert df["message"].iloc[0] == "e1000e 0000:00:19.0 eth0: NIC Link is Down"
    assert df.attrs["files"][0].malformed == 0


def test_rfc3164_needs_zone_and_year_from_mtime(write):
    path = write("syslog", "Nov 25 08:01:02 host x: hello\n")
    with pytest.raises(KsauditError, match="without a zone"):
        read_events(path)
    os.utime(path, (1_795_600_000, 1_795_600_000))      # 2026-11-25
    df = read_events(path, timezone="UTC")
    assert df["raw_ts"].iloc[0] == "Nov 25 08:01:02"
    assert df["ts_ns"].iloc[0] == 1_795_593_662 * NS   # 2026-11-25 08:01:02 UTC
    assert "mtime" in df.attrs["files"][0].notes[0]


def test_rfc3164_localised_months_and_malformed(write):
    text = ("Mär  3 10:00:00 host x: deutsch\n"
            "janv. 4 10:00:00 host x: français\n"
            "Foo  5 10:00:00 host x: no such month\n"
            "Feb 30 10:00:00 host x: no such day\n")
    df = read_events(write("syslog", text), format="rfc3164", timezone="UTC", year=2026)
    assert df.sort_values("line")["message"].tolist() == ["deutsch", "français"]
    assert df["ts_ns"].tolist() == [1_767_520_800 * NS, 1_772_532_000 * NS]   # Jan 4, Mar 3
    fact = df.attrs["files"][0]
    assert fact.malformed == 2
    assert [(e.line, e.reason) for e in fact.malformed_examples] == [
        (3, "not an RFC 3164 line"), (4, "impossible date")]


def test_rfc5424(write):
    text = ('<165>1 2026-11-25T08:01:02.123456+01:00 host openvpn 99 - - Initialization Sequence Completed\n'
            '<165>1 2026-11-25T07:01:03Z host app - ID47 [ex@32473 iut="3"] \xef\xbb\xbfhello\n'
            '<165>1 - host app - - - no time\n')
    df = read_events(write("r.log", text.encode("latin-1")))
    assert df.attrs["files"][0].format == "rfc5424"
    assert df["ts_ns"].tolist() == [1_795_590_062_123_456_000, 1_795_590_063 * NS]
    assert df["quantum_ns"].tolist() == [1000, NS]
    assert df["kind"].tolist() == ["tunnel_up", "other"]
    assert df["message"].iloc[1] == '[ex@32473 iut="3"] hello'
    assert df.attrs["files"][0].malformed_examples[0].reason == "NILVALUE timestamp"


@pytest.mark.parametrize("offset", ["+0100", "+01:00"])
def test_short_iso_precise_offsets_and_boot_markers(write, offset):
    text = (f"-- Journal begins at Mon 2026-11-23 10:00:00 CET. --\n"
            f"2026-11-25T08:01:02.123456{offset} host kernel: PM: suspend entry (deep)\n"
            f"-- Boot 0123456789abcdef0123456789abcdef --\n"
            f"2026-11-25T08:05:00.000001{offset} host kernel: PM: suspend exit\n"
            f"    continued line\n")
    df = read_events(write("j.txt", text))
    assert df.attrs["files"][0].format == "journald-short-iso-precise"
    assert df["ts_ns"].tolist() == [1_795_590_062_123_456_000, 1_795_590_300_000_001_000]
    assert df["boot_id"].tolist() == ["", "0123456789abcdef0123456789abcdef"]
    assert df["kind"].tolist() == ["sleep", "wake"]
    assert df["message"].iloc[1] == "PM: suspend exit\ncontinued line"
    assert df["tz_source"].tolist() == ["explicit"] * 2


def test_rsyslog_rfc3339(write):
    text = "2026-11-25T08:01:02.123+01:00 host wg-quick[5]: [#] ip link delete dev wg0\n"
    df = read_events(write("messages", text), format="rfc3339-syslog")
    assert df["ts_ns"].tolist() == [1_795_590_062_123_000_000]
    assert df["quantum_ns"].tolist() == [1_000_000]
    assert (df["kind"].iloc[0], df["iface"].iloc[0]) == ("tunnel_down", "wg0")


def _export_entry(fields, binary=None):
    out = b"".join(f"{k}={v}\n".encode() for k, v in fields.items())
    for k, v in (binary or {}).items():
        out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
    return out + b"\n"


def test_journald_export_with_binary_fields(write):
    t = 1_795_587_593_463_073
    data = (b"__CURSOR=s=1\n"[:0]
            + _export_entry({"__CURSOR": "s=a;i=1", "__REALTIME_TIMESTAMP": t,
                             "__MONOTONIC_TIMESTAMP": 1000, "_BOOT_ID": "b" * 32,
                             "SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "PM: suspend entry (deep)"})
            + _export_entry({"__CURSOR": "s=a;i=2", "__REALTIME_TIMESTAMP": t + 5,
                             "__MONOTONIC_TIMESTAMP": 1005, "_BOOT_ID": "b" * 32,
                             "SYSLOG_IDENTIFIER": "app"},
                            {"MESSAGE": b"line one\nline two \xff", "BLOB": b"\x00\x01\n\n"})
            + _export_entry({"__CURSOR": "s=a;i=3", "MESSAGE": "no time"}))
    df = read_events(write("j.export", data))
    assert df.attrs["files"][0].format == "journald-export"
    assert df["ts_ns"].tolist() == [t * 1000, (t + 5) * 1000]
    assert df["line"].tolist() == [1, 2]
    assert df["message"].iloc[1] == "line one\nline two \ufffd"
    assert df["kind"].iloc[0] == "sleep"
    assert df.attrs["files"][0].malformed == 1


def test_journald_export_cut_binary_field(write):
    data = _export_entry({"__REALTIME_TIMESTAMP": 1_795_587_593_463_073, "MESSAGE": "ok"})
    data += b"__REALTIME_TIMESTAMP=1795587593463080\nMESSAGE\n" + struct.pack("<Q", 999) + b"short"
    df = read_events(write("j.export", data))
    assert len(df) == 1
    assert "runs past" in df.attrs["files"][0].malformed_examples[0].reason


def test_rfc3164_repeated_and_skipped_dst_hours_widen_and_flag(write):
    # Europe/Berlin 2026: 02:00-03:00 is repeated on Oct 25, skipped on Mar 29
    text = ("Oct 25 01:59:59 h a: before\n"
            "Oct 25 02:30:00 h a: repeated\n"
            "Oct 25 03:00:00 h a: after\n")
    df = read_events(write("syslog", text), timezone="Europe/Berlin", year=2026)
    assert df["ambiguous"].tolist() == [False, True, False]
    assert (df["t_hi_ns"] - df["t_lo_ns"]).tolist() == [NS, 3601 * NS, NS]
    assert df["ts_ns"].iloc[1] == 1_792_888_200 * NS    # 02:30 CEST, the earlier reading
    assert df.attrs["files"][0].ambiguous == 1
    gap = read_events(write("gap", "Mar 29 02:30:00 h a: skipped\n"),
                      timezone="Europe/Berlin", year=2026)
    assert gap["ambiguous"].tolist() == [True]
    assert (gap["t_hi_ns"] - gap["t_lo_ns"]).tolist() == [3601 * NS]


def test_journald_export_realtime_monotonic_jump_is_a_clock_step(write):
    t = 1_795_587_593_463_073
    entries = [(t, 1_000_000, "1"), (t + 1_000, 1_001_000, "1"),
               (t + 5_001_000, 1_002_000, "1"),     # +5 s jump within boot 1
               (t + 5_002_000, 10, "2")]            # a new boot is not a step
    data = b"".join(_export_entry({"__REALTIME_TIMESTAMP": rt, "__MONOTONIC_TIMESTAMP": mono,
                                   "_BOOT_ID": boot * 32, "MESSAGE": f"m{i}"})
                    for i, (rt, mono, boot) in enumerate(entries))
    df = read_events(write("j.export", data))
    steps = df[df["kind"] == "clock_step"]
    assert steps["line"].tolist() == [3]
    assert "+4999.000 ms" in steps["message"].iloc[0]
    assert len(df) == 5


@pytest.mark.parametrize("fmt", ["journald-json", "journald-export"])
def test_monotonic_beyond_int64_ns_is_unknown_not_wrapped(write, fmt):
    t, huge = 1_795_587_593_463_073, "9" * 16
    if fmt == "journald-json":
        data = ('{"__REALTIME_TIMESTAMP": "%d", "__MONOTONIC_TIMESTAMP": "%s", "MESSAGE": "x"}\n'
                % (t, huge)).encode()
    else:
        data = _export_entry({"__REALTIME_TIMESTAMP": t, "__MONOTONIC_TIMESTAMP": huge,
                              "MESSAGE": "x"})
    df = read_events(write("j", data), format=fmt)
    assert df["mono_ns"].tolist() == [-1] and df["ts_ns"].tolist() == [t * 1000]
