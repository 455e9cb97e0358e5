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
    assert fact["events"] == len(df)
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
    assert len(df) == 0 and df.attrs["files"][0]["events"] == 0
