"""NetworkManager: its own log format, and its embedded ``[sec.frac]`` stamp, which wins
over the time of whatever carried the line (``ksaudit.oslogs.embedded``).

Real lines under tests/oslogs/data/ (sources in data/README.md).
"""

from pathlib import Path

from ksaudit import read_events

DATA = Path(__file__).with_name("data")
NS = 10**9
T0 = 1_795_587_593_463_073  # µs


def test_networkmanager_own_log_real_lines():
    """NetworkManager's debug log (``<level> [sec.frac] ...``, levels padded to one width)."""
    df = read_events(DATA / "networkmanager.log")
    fact = df.attrs["files"][0]
    assert (fact.format, fact.chosen_by, fact.events, fact.malformed) == \
        ("networkmanager", "sniffed", 7, 0)
    assert df["raw_ts"].tolist()[:3] == ["1742973783.9193", "1742973783.9247", "1742973783.9252"]
    assert df["ts_ns"].tolist()[0] == 1_742_973_783_919_300_000
    assert set(df["quantum_ns"]) == {100_000} and set(df["tz_source"].astype(str)) == {"assumed-utc"}
    assert set(df["ident"]) == {"NetworkManager"}
    assert df["message"][2].startswith("<info>  [1742973783.9252] device (wlan0): state change")


def test_stamp_wins_over_a_journal_short_iso_carrier_and_agrees_with_it():
    """``journalctl -o short-iso`` lines (+0800, 1 s): each NetworkManager stamp falls in
    the carrier's second once its zone is applied: both clocks are the same here."""
    df = read_events(DATA / "journald-short-iso.log")
    assert df.attrs["files"][0].events == 5
    carrier_s = [1_774_685_400] * 4 + [1_774_685_402]      # 16:10:00+0800 = 08:10:00Z
    assert [t // NS for t in df["ts_ns"]] == carrier_s
    assert df["raw_ts"].tolist()[0] == "1774685400.8463" and set(df["quantum_ns"]) == {100_000}
    first = df.iloc[0]
    assert (first.kind, first.iface, first.rule) == ("link_down", "ens1", "nm-device-deactivated")


def test_stamp_wins_over_a_syslog_carrier():
    """RFC 3164-style journal lines carry local time without a zone; the embedded stamp
    is epoch time and needs none (these were written at +08:00: 11:53:25 = 03:53:25Z)."""
    df = read_events(DATA / "rfc3164-journalctl-short.log", timezone="Asia/Kuala_Lumpur",
                     year=2026)
    assert df.attrs["files"][0].format == "rfc3164"
    assert df["ts_ns"].tolist()[0] == 1_789_358_005_891_400_000
    assert set(df["tz_source"].astype(str)) == {"assumed-utc"}
    assert df["kind"].astype(str).tolist()[1] == "network_change"


def test_networkmanager_stamp_wins(write, jline):
    msg = ("<info>  [1795587593.4631] device (wgk1234c): state change: activated -> "
           "disconnected (reason 'none', sys-iface-state: 'managed')")
    df = read_events(write("j.json", jline(T0 + 9000, msg, mono_us=1)))
    row = df.iloc[0]
    assert row.ts_ns == 1_795_587_593_463_100_000
    assert row.quantum_ns == 100_000
    assert row.raw_ts == "1795587593.4631"
    assert row.t_hi_ns - row.t_lo_ns == 100_000
    assert (row.kind, row.iface, row.rule) == ("tunnel_down", "wgk1234c", "nm-tunnel-deactivated")


def test_garbled_networkmanager_stamp_keeps_the_carrier_time(write):
    text = ("Nov 25 08:01:02 h NetworkManager[5]: <info>  [99999999999.1234] manager: "
            "NetworkManager state is now DISCONNECTED\n")
    df = read_events(write("syslog", text), timezone="UTC", year=2026)
    assert df["ts_ns"].tolist() == [1_795_593_662 * NS]
    assert df["raw_ts"].tolist() == ["Nov 25 08:01:02"] and df["quantum_ns"].tolist() == [NS]
