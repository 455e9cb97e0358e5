"""RFC 3164 lines plaso reads (plaso/parsers/text_plugins/syslog.py and its
test_data/syslog): tab-indented continuations, syslogd's repeat lines with and
without a host, Feb 29 in a leap year."""

import pytest

from ksaudit import KsauditError, read_events
from ksaudit.cli import main

NS = 10**9
DEC1 = 1_796_119_200 * NS           # 2026-12-01 10:00:00 UTC

# As sysklogd / FreeBSD syslogd / macOS syslogd and rsyslog write them.
SYSLOG = """\
Dec  1 10:00:00 host NetworkManager[612]: <info>  [1796119200.0000] device (wlan0): state change: activated -> unavailable (reason 'carrier-changed', sys-iface-state: 'managed')
Dec  1 10:00:00 host kernel: wlan0: deauthenticating from 02:00:00:00:01:00 by local choice (Reason: 3=DEAUTH_LEAVING)
Dec  1 10:00:01 host vpnd[900]: tunnel lost; traceback follows
\tFile "vpnd.py", line 12, in run
\tConnectionResetError: [Errno 104] Connection reset by peer
Dec  1 10:00:01 last message repeated 3 times
Dec  1 10:00:02 host last message repeated 2 times
Dec  1 10:00:03: --- last message repeated 5 times ---
Dec  1 10:00:04 --- last message repeated 1 time ---
Dec  1 10:00:05 host --- last message repeated 2 times ---
--- last message repeated 2 times ---
Dec  1 10:00:06 host rsyslogd: message repeated 4 times: [tunnel lost]
MMM  1 10:00:07 host x: no such month
\tan indented line after a malformed one
"""


def test_continuations_join_and_repeat_lines_are_events(write):
    df = read_events(write("syslog", SYSLOG), timezone="UTC", year=2026)
    fact = df.attrs["files"][0]
    assert fact.events == 9 and fact.malformed == 2
    assert [(m.line, m.reason) for m in fact.malformed_examples] == [
        (13, "not an RFC 3164 line"), (14, "not an RFC 3164 line")]
    assert df["line"].tolist() == [1, 2, 3, 6, 7, 8, 9, 10, 12]
    traceback = df.set_index("line").loc[3]
    assert traceback["message"] == ('tunnel lost; traceback follows\nFile "vpnd.py", line 12, in run'
                                    '\nConnectionResetError: [Errno 104] Connection reset by peer')
    assert traceback["ident"] == "vpnd" and traceback["ts_ns"] == DEC1 + NS
    repeats = df[df["line"].between(6, 10)]
    assert repeats["message"].tolist() == [
        "last message repeated 3 times", "last message repeated 2 times",
        "--- last message repeated 5 times ---", "--- last message repeated 1 time ---",
        "--- last message repeated 2 times ---"]
    assert repeats["ts_ns"].tolist() == [DEC1 + k * NS for k in (1, 2, 3, 4, 5)]
    assert set(repeats["ident"]) == {""} and set(repeats["kind"]) == {"other"}
    assert "2 tab-indented continuation line(s) joined to the message above" in fact.notes
    assert ("1 '--- last message repeated N times ---' line(s) without a time stamp skipped"
            in fact.notes)
    # the continuation does not hide what the first line says
    assert df.set_index("line").loc[1, "kind"] == "link_down"


def test_sniffed_and_declared_read_alike(write):
    path = write("syslog", SYSLOG)
    auto = read_events(path, timezone="UTC", year=2026)
    declared = read_events(path, format="rfc3164", timezone="UTC", year=2026)
    assert auto.attrs["files"][0].chosen_by == "sniffed"
    assert declared.attrs["files"][0].chosen_by == "declared"
    assert auto.attrs["files"][0].format == "rfc3164"
    assert auto["message"].tolist() == declared["message"].tolist()


LEAP = """\
Feb 28 23:59:59 host vpnd[900]: tunnel down
Feb 29 00:00:01 host vpnd[900]: tunnel up
Mar  1 00:00:00 host vpnd[900]: still up
"""


def test_feb_29_in_a_leap_year_given_by_year(write):
    df = read_events(write("syslog", LEAP), timezone="UTC", year=2028)
    assert df.attrs["files"][0].malformed == 0
    feb28 = 1_835_395_199 * NS          # 2028-02-28 23:59:59 UTC
    assert df["ts_ns"].tolist() == [feb28, feb28 + 2 * NS, feb28 + 86_401 * NS]


def test_feb_29_outside_a_leap_year_says_why(write):
    df = read_events(write("syslog", LEAP), timezone="UTC", year=2027)
    fact = df.attrs["files"][0]
    assert fact.events == 2 and fact.malformed == 1
    ex = fact.malformed_examples[0]
    assert ex.line == 2 and ex.text == "Feb 29 00:00:01 host vpnd[900]: tunnel up"
    assert ex.reason.startswith("Feb 29 in 2027, not a leap year (the first line's year was "
                                "given as 2027)")


def test_feb_29_after_a_new_year_roll_over(write):
    text = "Dec 31 23:59:59 host x: a\n" + LEAP
    df = read_events(write("syslog", text), timezone="UTC", year=2027)
    assert df.attrs["files"][0].malformed == 0
    assert df["raw_ts"].tolist()[2] == "Feb 29 00:00:01"


def test_feb_29_only_lines_and_no_leap_year_is_an_error(write):
    path = write("syslog", "Feb 29 00:00:01 host vpnd[900]: tunnel up\n")
    with pytest.raises(KsauditError, match="line 1: Feb 29 in 2027, not a leap year"):
        read_events(path, timezone="UTC", year=2027)


def test_events_cli_with_year(write, capsys):
    path = write("syslog", LEAP)
    assert main(["events", str(path), "--timezone", "UTC", "--year", "2028", "--all"]) == 0
    captured = capsys.readouterr()
    assert "format rfc3164 (sniffed, score 0.7), 3 events, 0 malformed" in captured.err
    assert "\t2028-02-29T00:00:01.000000000Z\t" in captured.out
    assert main(["events", str(path), "--timezone", "UTC", "--year", "2027"]) == 0
    err = capsys.readouterr().err
    assert "2 events, 1 malformed" in err and "line 2: Feb 29 in 2027, not a leap year" in err


def test_events_cli_prints_a_joined_message_on_one_line(write, capsys):
    path = write("syslog", SYSLOG)
    assert main(["events", str(path), "--timezone", "UTC", "--year", "2026", "--all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 9
    assert out[2].endswith('tunnel lost; traceback follows\\nFile "vpnd.py", line 12, in run'
                           '\\nConnectionResetError: [Errno 104] Connection reset by peer')
