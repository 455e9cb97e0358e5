import pytest

from ksaudit import KsauditError, read_events

NS = 10**9


def test_openvpn_iso_with_unpadded_us(write):
    text = ("2026-11-25 08:01:02 us=54599 OpenVPN 2.6.3 x86_64-pc-linux-gnu\n"
            "2026-11-25 08:01:03 us=154599 Initialization Sequence Completed\n"
            "2026-11-25 08:01:09 [vpn] Inactivity timeout (--ping-restart), restarting\n")
    df = read_events(write("openvpn.log", text), timezone="Europe/Berlin")
    assert df.attrs["files"][0].format == "openvpn"
    assert df["ts_ns"].tolist() == [1_795_590_062_054_599_000, 1_795_590_063_154_599_000,
                                    1_795_590_069 * NS]
    assert df["quantum_ns"].tolist() == [1000, 1000, NS]
    assert df["raw_ts"].iloc[0] == "2026-11-25 08:01:02 us=54599"
    assert df["kind"].tolist() == ["other", "tunnel_up", "tunnel_down"]


def test_openvpn_ctime_and_machine_readable(write):
    ctime = ("Tue Jan 31 22:38:26 2017 us=7 SIGTERM[hard,] received, process exiting\n"
             "Tue Jan 31 22:38:27 2017 Restart pause, 5 second(s)\n")
    df = read_events(write("o1.log", ctime), timezone="UTC")
    assert df["ts_ns"].tolist() == [1_485_902_306 * NS + 7000, 1_485_902_307 * NS]
    assert df["kind"].tolist() == ["process_exit", "tunnel_down"]
    machine = "1485902306.154599 1 Initialization Sequence Completed\n"
    df = read_events(write("o2.log", machine), format="openvpn")
    assert df["ts_ns"].tolist() == [1_485_902_306_154_599_000]
    assert df["tz_source"].tolist() == ["assumed-utc"]
    assert df["quantum_ns"].tolist() == [1000]


def test_openvpn_zone_less_without_timezone_is_an_error(write):
    with pytest.raises(KsauditError, match="openvpn writes local times without a zone"):
        read_events(write("o.log", "2026-11-25 08:01:02 us=1 OpenVPN 2.6\n"), format="openvpn")


def test_wg_quick_with_stamps(write):
    text = ("2026-11-25T08:01:02.5+01:00 [#] ip link add wg0 type wireguard\n"
            "2026-11-25T08:01:02.6+01:00 [#] ip -4 rule add table main suppress_prefixlength 0\n"
            "2026-11-25 08:01:09 [#] ip link delete dev wg0\n")
    df = read_events(write("wgq.log", text), timezone="Europe/Berlin")
    assert df.attrs["files"][0].format == "wg-quick"
    assert df["ts_ns"].tolist() == [1_795_590_062_500_000_000, 1_795_590_062_600_000_000,
                                    1_795_590_069 * NS]
    # the interface's creation is not the tunnel up: its routes come after
    assert list(zip(df["kind"], df["iface"])) == [("other", "wg0"), ("tunnel_up", ""),
                                                  ("tunnel_down", "wg0")]


def test_wg_quick_without_stamps_is_an_error_not_a_guess(write):
    with pytest.raises(KsauditError, match="no timestamp"):
        read_events(write("wgq.log", "[#] ip link add wg0 type wireguard\n"), format="wg-quick")
