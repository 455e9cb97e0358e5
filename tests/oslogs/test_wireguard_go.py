import pytest

from ksaudit import KsauditError, read_events

# Lines as wireguard-go 0.0.20220316 writes them with LOG_LEVEL=verbose (seen here).
LOG = """\
DEBUG: (wgk1234c) 2026/11/25 08:01:02 Starting wireguard-go version 0.0.20220316
DEBUG: (wgk1234c) 2026/11/25 08:01:02 Interface up requested
DEBUG: (wgk1234c) 2026/11/25 08:01:02 Interface state was Down, requested Up, now Up
ERROR: (wgk1234c) 2026/11/25 08:01:05 Failed to send handshake initiation: no route
DEBUG: (wgk1234c) 2026/11/25 08:01:07 Interface state was Up, requested Down, now Down
DEBUG: (wgk1234c) 2026/11/25 08:01:09 Device closing
DEBUG: (wgk1234c) 2026/11/25 08:01:09 Shutting down
DEBUG: 2026/11/25 08:01:10 no interface prefix
"""


def test_wireguard_go_needs_a_zone(write):
    with pytest.raises(KsauditError, match="without a zone"):
        read_events(write("wg.log", LOG))


def test_wireguard_go_events(write):
    df = read_events(write("wg.log", LOG), timezone="Europe/Berlin")
    assert df.attrs["files"][0].format == "wireguard-go"
    # 08:01:02 CET = 07:01:02 UTC
    assert df["ts_ns"].iloc[0] == 1_795_590_062 * 10**9
    assert df["raw_ts"].iloc[0] == "2026/11/25 08:01:02"
    assert (df["quantum_ns"] == 10**9).all()
    assert df["tz_source"].iloc[0] == "declared"
    assert df["kind"].tolist() == ["process_start", "other", "tunnel_up", "other", "tunnel_down",
                                   "tunnel_down", "process_exit", "other"]
    assert df["iface"].tolist()[:7] == ["wgk1234c"] * 7
    assert df["iface"].iloc[7] == ""
