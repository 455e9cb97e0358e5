"""RFC 3339-stamped syslog: rsyslog's file format and journalctl short-iso-precise."""

import pytest

from ksaudit import read_events



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
