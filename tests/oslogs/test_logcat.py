import os
from pathlib import Path

import pytest

from ksaudit import KsauditError, read_events

NS = 10**9
BASE = ("--------- beginning of main\n"
        "11-25 08:01:02.123  1234  1250 I Vpn     : setting state=CONNECTED, reason=agentConnect\n"
        "11-25 08:01:09.500  1234  1250 I Vpn     : setting state=DISCONNECTED, reason=agentDisconnect\n")


def test_threadtime_default_needs_zone_and_year(write):
    path = write("logcat.txt", BASE)
    with pytest.raises(KsauditError, match="without a zone"):
        read_events(path)
    df = read_events(path, timezone="Europe/Berlin", year=2026)
    assert df.attrs["files"][0].format == "logcat"
    assert df["ts_ns"].tolist() == [1_795_590_062_123_000_000, 1_795_590_069_500_000_000]
    assert df["quantum_ns"].tolist() == [1_000_000] * 2
    assert df["kind"].tolist() == ["tunnel_up", "tunnel_down"]
    assert df["ident"].tolist() == ["Vpn", "Vpn"]


def test_modifiers_year_usec_nsec_zone_epoch(write):
    text = ("2026-11-25 08:01:02.123456 +0100  1  2 I ConnectivityService: NetworkAgentInfo "
            "[VPN () - 104] going from CONNECTED to DISCONNECTED\n"
            "2026-11-25 07:01:03.123456789  1  2 D Tag: nsec, UTC\n"
            "1795590064.250  1  2 W Tag: epoch\n")
    df = read_events(write("l.txt", text), timezone="UTC")
    assert df["ts_ns"].tolist() == [1_795_590_062_123_456_000, 1_795_590_063_123_456_789,
                                    1_795_590_064_250_000_000]
    assert df["quantum_ns"].tolist() == [1000, 1, 1_000_000]
    assert df["tz_source"].tolist() == ["explicit", "declared", "assumed-utc"]
    assert df["kind"].iloc[0] == "tunnel_down"


def test_year_rollover_from_mtime(write):
    text = ("12-31 23:59:59.000  1  2 I A: old year\n"
            "01-01 00:00:01.000  1  2 I A: new year\n")
    path = write("l.txt", text)
    os.utime(path, (1_799_000_000, 1_799_000_000))   # 2027-01-03
    df = read_events(path, timezone="UTC")
    assert df["ts_ns"].tolist() == [1_798_761_599 * NS, 1_798_761_601 * NS]


def test_real_wireguard_android_log():
    """WireGuard for Android's exported log (logcat threadtime, 1 ms, local time without
    a year; tags with slashes, a '--------- beginning of' marker between buffers)."""
    df = read_events(Path(__file__).with_name("data") / "logcat-wireguard-android.log",
                     timezone="Europe/London", year=2023)
    fact = df.attrs["files"][0]
    assert (fact.format, fact.chosen_by, fact.events, fact.malformed) == \
        ("logcat", "sniffed", 14, 0)
    assert df["line"].tolist()[:5] == [2, 3, 4, 5, 7]           # markers are no events
    assert set(df["quantum_ns"]) == {1_000_000}
    up = df[df["message"] == "Interface state was Down, requested Up, now Up"].iloc[0]
    assert up.ident == "WireGuard/GoBackend/Desktop" and up.raw_ts == "05-15 13:16:37.044"
    assert up.ts_ns == 1_684_152_997_044_000_000                 # 13:16:37.044 BST
    assert df["ident"].tolist()[1] == "chatty"                   # a tag padded with spaces
