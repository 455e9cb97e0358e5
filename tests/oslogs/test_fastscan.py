"""The compiled scanners against independent readings (json / Python regex)."""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from ksaudit.oslogs import base, bsd_syslog, fastscan, journald_json

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUE = st.one_of(TEXT, st.integers(-10**6, 10**6), st.none(), st.booleans(),
                  st.lists(st.integers(0, 255), max_size=5),
                  st.dictionaries(st.sampled_from(["a", "b"]), TEXT, max_size=2))
KEYS = st.sampled_from(list(fastscan.JOURNAL_KEYS) + ["PRIORITY", "_PID", "MESSAGE_ID", "X"])


@SETTINGS
@given(records=st.lists(st.dictionaries(KEYS, VALUE, max_size=8), min_size=1, max_size=6),
       spaced=st.booleans())
def test_json_scanner_agrees_with_json(records, spaced):
    seps = (" , ", " : ") if spaced else (",", ":")
    text = "".join(json.dumps(r, separators=seps, ensure_ascii=False) + "\n" for r in records)
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    starts, ends, status, vs, ve, vtype, esc = fastscan.scan_journald_json(data)
    assert list(status) == [fastscan.OK] * len(records)
    for r, rec in enumerate(records):
        for k, key in enumerate(fastscan.JOURNAL_KEYS):
            if key not in rec:
                assert vtype[r, k] == fastscan.V_NONE
                continue
            raw = bytes(data[vs[r, k]:ve[r, k]])
            if vtype[r, k] == fastscan.V_STRING:
                assert json.loads(b'"' + raw + b'"') == rec[key]
            else:
                assert json.loads(raw) == rec[key]


def test_json_scanner_flags_broken_lines():
    lines = [b'{"MESSAGE": "a"', b'{"MESSAGE": "a"} x', b'["MESSAGE"]', b'{"MESSAGE" "a"}',
             b'   ', b'{"MESSAGE": "a\\"}']
    data = np.frombuffer(b"\n".join(lines) + b"\n", dtype=np.uint8)
    status = fastscan.scan_journald_json(data)[2]
    assert list(status) == [fastscan.BAD, fastscan.BAD, fastscan.BAD, fastscan.BAD,
                            fastscan.BLANK, fastscan.BAD]


@SETTINGS
@given(messages=st.lists(TEXT, min_size=1, max_size=5), ident=st.sampled_from(["kernel", "a\"b", "é"]))
def test_journald_parse_keeps_exact_text(tmp_path_factory, messages, ident):
    path = tmp_path_factory.mktemp("j") / "j.json"
    path.write_text("".join(json.dumps({"__REALTIME_TIMESTAMP": str(10**15 + i), "MESSAGE": m,
                                        "SYSLOG_IDENTIFIER": ident}) + "\n"
                            for i, m in enumerate(messages)), encoding="utf-8")
    ctx = base.ParseContext(path, "journald-json")
    cols = base.collect(journald_json.parse(path, ctx), ctx)
    assert list(cols["message"]) == messages
    assert set(cols["ident"]) == {ident}
    assert list(cols["ts_ns"]) == [(10**15 + i) * 1000 for i in range(len(messages))]


MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
LINE = st.builds(
    lambda pri, mon, day, pad, h, m, s, frac, host, tag, pid, msg:
        (f"<{pri}>" if pri is not None else "") + f"{mon} "
        + (f"{day:2d}" if pad else f"{day}") + f" {h:02d}:{m:02d}:{s:02d}"
        + (f".{frac}" if frac else "") + f" {host} "
        + ((tag + (f"[{pid}]" if pid is not None else "") + ": ") if tag else "") + msg,
    st.one_of(st.none(), st.integers(0, 191)), st.sampled_from(MONTHS), st.integers(1, 28),
    st.booleans(), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
    st.sampled_from(["", "1", "123", "123456", "123456789"]),
    st.from_regex(r"[a-z][a-z0-9.-]{0,10}", fullmatch=True),
    st.one_of(st.just(""), st.from_regex(r"[A-Za-z][\w.-]{0,12}", fullmatch=True)),
    st.one_of(st.none(), st.integers(1, 99999)),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30))


@SETTINGS
@given(lines=st.lists(LINE, min_size=1, max_size=8))
def test_rfc3164_scanner_agrees_with_the_regex(lines):
    data = np.frombuffer(("\n".join(lines) + "\n").encode(), dtype=np.uint8)
    starts, ends, ok, f, pos = fastscan.scan_rfc3164(data)
    assert ok.all()
    for r, line in enumerate(lines):
        m = bsd_syslog._SLOW.match(line)
        assert m is not None
        got = lambda a, b: bytes(data[a:b]).decode() if a >= 0 else ""  # noqa: E731
        assert f[r, 0] == MONTHS.index(m.group("mon")) + 1
        assert (f[r, 1], f[r, 2], f[r, 3], f[r, 4]) == tuple(
            int(m.group(g)) for g in ("day", "hh", "mi", "ss"))
        digits = m.group("frac") or ""
        assert f[r, 6] == 10 ** (9 - len(digits))
        assert f[r, 5] == (int(digits) * 10 ** (9 - len(digits)) if digits else 0)
        assert got(pos[r, 0], pos[r, 1]) == m.group(1)
        assert got(pos[r, 2], pos[r, 3]) == (m.group("tag") or "")
        assert got(pos[r, 4], pos[r, 5]) == m.group("msg")


def test_rfc3164_scanner_leaves_odd_lines_to_python():
    lines = [b"Mar  3 10:00:00.x host a: b", b"M\xc3\xa4r  3 10:00:00 host x: y", b"Nov 25 8:01:02 h t: m",
             b"<999999>Nov 25 08:01:02 h t: m", b"Nov 25 08:01:02"]
    data = np.frombuffer(b"\n".join(lines), dtype=np.uint8)
    assert not fastscan.scan_rfc3164(data)[2].any()
