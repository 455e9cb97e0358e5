"""RFC 3164 (BSD) syslog: zone and year, roll-over, PRI, localised months, DST hours;
real lines under tests/oslogs/data/ (sources in data/README.md)."""

import os
from pathlib import Path

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


def test_real_ufw_kernel_lines():
    """A host's ufw log (kernel lines with the kernel's own uptime stamp in brackets):
    local time, 1 s, the year given; the bracketed uptime is message text, not a time."""
    df = read_events(Path(__file__).with_name("data") / "rfc3164-ufw.log",
                     timezone="Europe/London", year=2023)
    fact = df.attrs["files"][0]
    assert (fact.format, fact.events, fact.malformed) == ("rfc3164", 4, 0)
    # 13:16:37 BST (UTC+1 on May 15) = 12:16:37Z
    assert df["ts_ns"].tolist()[:3] == [1_684_153_000 * NS - 3 * NS] * 3
    assert (df["ts_ns"].iloc[3] - df["ts_ns"].iloc[0]) == 58 * NS
    assert set(df["quantum_ns"]) == {NS} and set(df["ident"]) == {"kernel"}
    assert df["message"].iloc[0].startswith("[199339.807699] [UFW BLOCK] IN=wg0 OUT=enp2s0")
