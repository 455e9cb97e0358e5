"""RFC 5424 syslog."""

from ksaudit import read_events

NS = 10**9


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
