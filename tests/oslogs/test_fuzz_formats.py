"""Every log format's parser, fuzzed: any bytes are read or refused with one KsauditError.

Each format gets inputs shaped like its own lines (so the fuzzer reaches the value
parsing, not only "not a line of this format"): real-shaped seed lines whose digit runs
are replaced by random digits, with bytes spliced in, lines cut, repeated and
shuffled; JSON formats also get objects whose values have random types, journald
export files random binary fields.  Derandomized with a bounded number of examples
so CI is reproducible and quick; ``KSAUDIT_FUZZ_EXAMPLES=2000`` gives a longer,
randomized local run.
"""

import json
import os
import re
from pathlib import Path
from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ksaudit import KsauditError, read_events
from ksaudit.oslogs import list_formats

_EXAMPLES = int(os.environ.get("KSAUDIT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 15, deadline=timedelta(seconds=5),
                derandomize=not _EXAMPLES,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])

# real-shaped lines per format (FIELD-NOTES.md, the module docstrings, tests/oslogs/data)
LINES = {
    "ksaudit-probe": [b'{"ts_ns": 1795587593463073150, "seq": 412, "dst": "203.0.113.80:33434", '
                      b'"proto": "udp", "result": "sent"}'],
    "journald-json": [b'{"__CURSOR": "s=1;i=2", "__REALTIME_TIMESTAMP": "1795587593463073", '
                      b'"__MONOTONIC_TIMESTAMP": "12345678", "_BOOT_ID": "' + b"b" * 32 + b'", '
                      b'"SYSLOG_IDENTIFIER": "NetworkManager", "MESSAGE": "<info>  '
                      b'[1795587593.4631] device (wg0): state change: activated -> deactivating"}'],
    "journald-export": [b"__CURSOR=s=1;i=2\n__REALTIME_TIMESTAMP=1795587593463073\n"
                        b"__MONOTONIC_TIMESTAMP=12345678\n_BOOT_ID=" + b"b" * 32 +
                        b"\nSYSLOG_IDENTIFIER=wg-quick\nMESSAGE=[#] ip link delete dev wg0\n"],
    "journald-short-iso-precise": [b"-- Boot " + b"a" * 32 + b" --",
                                   b"2026-11-25T08:01:02.123456+0100 host NetworkManager[712]: "
                                   b"<info>  [1795587593.4631] device (wg0): state change"],
    "networkmanager": [b"<info>  [1672204207.8319] device (wg-mullvad): state change: "
                       b"secondaries -> activated (reason 'none', sys-iface-state: 'managed')"],
    "wireguard-go": [b"DEBUG: (wg0) 2026/11/25 08:01:02 Interface state was Up, requested Down",
                     b"INFO: 2026/11/25 08:01:02.123 Device closing"],
    "wg-quick": [b"2026-11-25T08:01:02.123+01:00 [#] ip link add wg0 type wireguard",
                 b"Nov 25 08:01:02 [#] wg setconf wg0 /dev/fd/63"],
    "rfc5424": [b"<13>1 2026-11-25T08:01:02.123456+01:00 host openvpn 712 - "
                b'[meta sequenceId="1"] Initialization Sequence Completed'],
    "rfc3339-syslog": [b"2026-11-25T08:01:02.123456+01:00 host kernel: PM: suspend entry (deep)",
                       b"  continued"],
    "rfc3164": [b"<30>Nov 25 08:01:02 host systemd[1]: Reached target Sleep.",
                b"Dez  1 10:00:01.123456 host kernel: PM: suspend exit",
                b"Nov 18 01:15:43: --- last message repeated 5 times ---",
                b"\tcontinuation"],
    "openvpn": [b"2024-01-31 22:38:26 us=154599 Initialization Sequence Completed",
                b"Tue Jan 31 22:38:26 2017 us=54599 SIGTERM[hard,] received, process exiting",
                b"1485902306.154599 1 Restart pause, 5 second(s)"],
    "macos-ndjson": [b'{"timestamp": "2023-02-23 10:44:02.761747+0100", "eventMessage": '
                     b'"NESMVPNSession[Primary Tunnel]: status changed to disconnecting", '
                     b'"processImagePath": "/usr/libexec/nesessionmanager", "bootUUID": "X"}',
                     b'{"count": 1, "finished": 1}'],
    "macos-json": [b'[{"timestamp": "2023-02-23 10:44:02.761747+0100", "eventMessage": "x", '
                   b'"subsystem": "com.apple.networkextension"},',
                   b'{"timestamp": "2023-02-23 10:44:03.000001+01:00", "composedMessage": "y"}]'],
    "macos-log-text": [b"Timestamp                       Thread     Type        Activity   PID    TTL",
                       b"2023-02-23 10:44:02.761747+0100 0x1a2b     Default     0x0        123    0"
                       b"    configd: [com.apple.SystemConfiguration:IPMonitor] network changed",
                       b"2023-02-23 10:44:02.761 Df configd[123:1a2b] [com.apple.x] changed"],
    "macos-system-log": [b"Nov 25 08:01:02 mac.local kernel[0]: AirPort: Link Down on en0",
                         b"Nov 25 08:01:03 mac.local kernel[0]: Wake reason: EC.LidOpen"],
    "logcat": [b"--------- beginning of main",
               b"11-25 08:01:02.123  1234  1250 I Vpn     : setting state=CONNECTED",
               b"2026-11-25 08:01:02.123456 +0100  1234  1250 D Vpn: x",
               b"1795587593.123  1234  1250 W Vpn: y"],
}
JSON_KEYS = {
    "ksaudit-probe": ["ts_ns", "seq", "dst", "proto", "result"],
    "journald-json": ["__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP", "_SOURCE_REALTIME_TIMESTAMP",
                      "_BOOT_ID", "MESSAGE", "SYSLOG_IDENTIFIER", "_COMM", "__CURSOR"],
    "macos-ndjson": ["timestamp", "eventMessage", "composedMessage", "processImagePath",
                     "senderImagePath", "subsystem", "bootUUID", "count", "finished"],
}
TEXT_FORMATS = sorted(set(LINES) - {"macos-json"})
DIGITS = re.compile(rb"\d+")


def test_every_registered_text_format_is_fuzzed():
    assert set(LINES) | {"evtx"} == {name for name, _ in list_formats()}   # evtx: at the end


def _read(path, fmt):
    """read_events must return a consistent table or raise the project error."""
    try:
        df = read_events(path, format=fmt, timezone="Europe/Berlin", year=2024)
    except KsauditError as exc:
        assert "\n" not in str(exc).strip() and str(path) in str(exc)
        return None
    assert isinstance(df, pd.DataFrame)
    fact = df.attrs["files"][0]
    assert fact.events == len(df)
    assert (df["t_hi_ns"] > df["t_lo_ns"]).all()
    return df


@st.composite
def shaped(draw, lines):
    """Lines of one format with random digit runs, splices, cuts and repeats."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        line = draw(st.sampled_from(lines))
        line = DIGITS.sub(lambda m: draw(st.sampled_from([
            m.group(0), b"0", b"9" * len(m.group(0)), b"99999999999999999999",
            draw(st.from_regex(rb"\A\d{1,12}\Z"))])), line)
        if draw(st.booleans()):
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(st.binary(max_size=8) | st.sampled_from(
                [b"\xff", b"\x00", b"\r", "ü".encode(), b"\xe2\x94\x82", b" us=", b"["])) + line[at:]
        if draw(st.booleans()):
            line = line[:draw(st.integers(0, len(line)))]
        out.append(line)
    sep = draw(st.sampled_from([b"\n", b"\r\n"]))
    return sep.join(out) + draw(st.sampled_from([b"", b"\n"]))


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@FUZZ
@given(data=st.data())
def test_shaped_lines(tmp_path, fmt, data):
    path = tmp_path / f"{fmt}.log"
    path.write_bytes(data.draw(shaped(LINES[fmt])))
    _read(path, fmt)
    _read(path, "auto")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=30) | st.sampled_from(["1795587593463073", "2023-02-23 10:44:02+0100",
                                              "-1", "1e9", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3), max_leaves=6)


@pytest.mark.parametrize("fmt", sorted(JSON_KEYS) + ["macos-json"])
@FUZZ
@given(data=st.data())
def test_json_values_of_any_type(tmp_path, fmt, data):
    keys = JSON_KEYS.get(fmt, JSON_KEYS["macos-ndjson"])
    recs = data.draw(st.lists(st.dictionaries(st.sampled_from(keys), JSON_VALUES, min_size=1),
                              min_size=1, max_size=4))
    text = (json.dumps(recs) if fmt == "macos-json"
            else "\n".join(json.dumps(r) for r in recs)) + "\n"
    path = tmp_path / f"{fmt}.json"
    path.write_text(text)
    _read(path, fmt)


@st.composite
def export_entries(draw):
    """Journal export entries: KEY=value lines and binary fields of any declared size."""
    out = b""
    for _ in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(1, 4))):
            key = draw(st.sampled_from([b"__REALTIME_TIMESTAMP", b"__MONOTONIC_TIMESTAMP",
                                        b"_BOOT_ID", b"MESSAGE", b"_COMM", b"X Y", b""]))
            if draw(st.booleans()):
                value = draw(st.from_regex(rb"\A\d{0,22}\Z") | st.binary(max_size=8))
                out += key + b"=" + value.replace(b"\n", b"") + b"\n"
            else:
                body = draw(st.binary(max_size=12))
                size = draw(st.sampled_from([len(body), len(body) + 5, 2**63, 2**64 - 1, 0]))
                out += key + b"\n" + size.to_bytes(8, "little") + body + b"\n"
        out += b"\n"
    return out


@FUZZ
@given(data=export_entries())
def test_journal_export_binary_fields(tmp_path, data):
    path = tmp_path / "export.log"
    path.write_bytes(data)
    _read(path, "journald-export")


EVTX = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "evtx" / "2-vss_7-System.evtx"


@pytest.mark.skipif(not EVTX.exists(), reason="the shared EVTX corpus file is not here")
@FUZZ
@given(data=st.data())
def test_evtx_with_bytes_flipped(tmp_path, data):
    """The real System log's header and first chunk, bytes flipped and cut (opt-in: the
    corpus file is not part of the repository)."""
    blob = bytearray(EVTX.read_bytes()[:4096 + 65536])
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.sampled_from([len(blob), 4096 + 65536 // 2, 4096, 100]))
    path = tmp_path / "s.evtx"
    path.write_bytes(bytes(blob[:cut]))
    _read(path, "evtx")
    _read(path, "auto")
