"""No input makes a parser crash: it parses, or it raises the one project error."""

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ksaudit import KsauditError, read_events
from ksaudit.oslogs import list_formats

FORMATS = [name for name, _ in list_formats()]
SEEDS = [
    b'{"__REALTIME_TIMESTAMP": "1795587593463073", "MESSAGE": "x", "_BOOT_ID": "b"}\n',
    b"Nov 25 08:01:02 host app[1]: x\n",
    b"<13>1 2026-11-25T08:01:02Z host app - - - x\n",
    b"DEBUG: (wg0) 2026/11/25 08:01:02 Device started\n",
    b"11-25 08:01:02.123  1234  1250 I Vpn     : x\n",
    b"__REALTIME_TIMESTAMP=1795587593463073\nMESSAGE\n\x05\x00\x00\x00\x00\x00\x00\x00hello\n\n",
    json.dumps([{"timestamp": "2023-02-23 10:44:02.761747+0100", "eventMessage": "x"}]).encode(),
]


def _mutate(seed, cut, junk):
    return seed[:cut % (len(seed) + 1)] + junk + seed[cut % (len(seed) + 1):]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), cut=st.integers(0, 200), junk=st.binary(max_size=12),
       fmt=st.sampled_from(FORMATS + ["auto"]))
def test_mutated_inputs_parse_or_raise_the_project_error(tmp_path_factory, seed, cut, junk, fmt):
    path = tmp_path_factory.mktemp("r") / "log"
    path.write_bytes(_mutate(seed, cut, junk) * 2)
    try:
        df = read_events(path, format=fmt, timezone="UTC", year=2026)
    except KsauditError:
        return
    assert isinstance(df, pd.DataFrame)
    fact = df.attrs["files"][0]
    assert fact.events == len(df)
    assert (df["t_hi_ns"] > df["t_lo_ns"]).all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file_is_no_events_not_an_error(tmp_path, fmt):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    if fmt == "evtx":
        with pytest.raises(KsauditError, match="not a readable EVTX file"):
            read_events(path, format=fmt)
        return
    df = read_events(path, format=fmt, timezone="UTC", year=2026)
    assert len(df) == 0 and df.attrs["files"][0].events == 0


@pytest.mark.parametrize("data", [b"", b"\n  \n\n"])
def test_empty_file_with_auto_says_it_is_empty(tmp_path, data):
    path = tmp_path / "empty.log"
    path.write_bytes(data)
    with pytest.raises(KsauditError, match="empty.log: is empty .*declare its format"):
        read_events(path)


@pytest.mark.parametrize("fmt,bad,good", [
    ("rfc5424", "<13>1 2999-11-25T08:01:02Z h app - - - far future\n",
     "<13>1 2026-11-25T08:01:02Z h app - - - x\n"),
    ("openvpn", "99999999999.123456 1 far future\n", "1795586466.000001 1 x\n"),
    ("ksaudit-probe", '{"ts_ns": 99999999999999999999, "seq": 1, "result": "sent"}\n',
     '{"ts_ns": 1795586466000000000, "seq": 2, "result": "sent"}\n'),
    ("journald-json", '{"__REALTIME_TIMESTAMP": "9999999999999999", "MESSAGE": "wraps int64"}\n',
     '{"__REALTIME_TIMESTAMP": "1795587593463073", "MESSAGE": "x"}\n'),
    ("logcat", "9999999999.123  1  2 I A: far future\n", "1795590064.250  1  2 W A: x\n"),
])
def test_times_beyond_int64_ns_are_malformed_lines_not_wrapped(tmp_path, fmt, bad, good):
    path = tmp_path / "log"
    path.write_text(bad + good)
    df = read_events(path, format=fmt, timezone="UTC")
    fact = df.attrs["files"][0]
    assert fact.events == 1 and fact.malformed == 1
    assert fact.malformed_examples[0].line == 1
    assert 1_700_000_000 * 10**9 < df["ts_ns"].iloc[0] < 1_900_000_000 * 10**9


@pytest.mark.parametrize("year,message", [(0, "year 0 is outside"), (99999, "year 99999 is outside"),
                                          ("next", "year must be a whole number, not 'next'")])
def test_year_outside_the_int64_range_or_not_a_number_is_refused(tmp_path, year, message):
    path = tmp_path / "log"
    path.write_text("Nov 25 08:01:02 host app[1]: x\n")
    with pytest.raises(KsauditError, match=message):
        read_events(path, timezone="UTC", year=year)
