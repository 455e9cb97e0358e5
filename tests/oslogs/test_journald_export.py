"""journald's Journal Export Format: binary fields, cut fields, clock steps."""

import struct
from pathlib import Path

import pytest

from ksaudit import read_events



def _export_entry(fields, binary=None):
    out = b"".join(f"{k}={v}\n".encode() for k, v in fields.items())
    for k, v in (binary or {}).items():
        out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
    return out + b"\n"


def test_journald_export_with_binary_fields(write):
    t = 1_795_587_593_463_073
    data = (b"__CURSOR=s=1\n"[:0]
            + _export_entry({"__CURSOR": "s=a;i=1", "__REALTIME_TIMESTAMP": t,
                             "__MONOTONIC_TIMESTAMP": 1000, "_BOOT_ID": "b" * 32,
                             "SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "PM: suspend entry (deep)"})
            + _export_entry({"__CURSOR": "s=a;i=2", "__REALTIME_TIMESTAMP": t + 5,
                             "__MONOTONIC_TIMESTAMP": 1005, "_BOOT_ID": "b" * 32,
                             "SYSLOG_IDENTIFIER": "app"},
                            {"MESSAGE": b"line one\nline two \xff", "BLOB": b"\x00\x01\n\n"})
            + _export_entry({"__CURSOR": "s=a;i=3", "MESSAGE": "no time"}))
    df = read_events(write("j.export", data))
    assert df.attrs["files"][0].format == "journald-export"
    assert df["ts_ns"].tolist() == [t * 1000, (t + 5) * 1000]
    assert df["line"].tolist() == [1, 2]
    assert df["message"].iloc[1] == "line one\nline two \ufffd"
    assert df["kind"].iloc[0] == "sleep"
    assert df.attrs["files"][0].malformed == 1


def test_journald_export_cut_binary_field(write):
    data = _export_entry({"__REALTIME_TIMESTAMP": 1_795_587_593_463_073, "MESSAGE": "ok"})
    data += b"__REALTIME_TIMESTAMP=1795587593463080\nMESSAGE\n" + struct.pack("<Q", 999) + b"short"
    df = read_events(write("j.export", data))
    assert len(df) == 1
    assert "runs past" in df.attrs["files"][0].malformed_examples[0].reason


def test_journald_export_realtime_monotonic_jump_is_a_clock_step(write):
    t = 1_795_587_593_463_073
    entries = [(t, 1_000_000, "1"), (t + 1_000, 1_001_000, "1"),
               (t + 5_001_000, 1_002_000, "1"),     # +5 s jump within boot 1
               (t + 5_002_000, 10, "2")]            # a new boot is not a step
    data = b"".join(_export_entry({"__REALTIME_TIMESTAMP": rt, "__MONOTONIC_TIMESTAMP": mono,
                                   "_BOOT_ID": boot * 32, "MESSAGE": f"m{i}"})
                    for i, (rt, mono, boot) in enumerate(entries))
    df = read_events(write("j.export", data))
    steps = df[df["kind"] == "clock_step"]
    assert steps["line"].tolist() == [3]
    assert "+4999.000 ms" in steps["message"].iloc[0]
    assert len(df) == 5


@pytest.mark.parametrize("fmt", ["journald-json", "journald-export"])
def test_monotonic_beyond_int64_ns_is_unknown_not_wrapped(write, fmt):
    t, huge = 1_795_587_593_463_073, "9" * 16
    if fmt == "journald-json":
        data = ('{"__REALTIME_TIMESTAMP": "%d", "__MONOTONIC_TIMESTAMP": "%s", "MESSAGE": "x"}\n'
                % (t, huge)).encode()
    else:
        data = _export_entry({"__REALTIME_TIMESTAMP": t, "__MONOTONIC_TIMESTAMP": huge,
                              "MESSAGE": "x"})
    df = read_events(write("j", data), format=fmt)
    assert df["mono_ns"].tolist() == [-1] and df["ts_ns"].tolist() == [t * 1000]


def test_real_export_and_json_of_one_journal():
    """``journalctl -u sshd -o export`` and ``-o json`` of one Fedora journal (2016): the
    sender's own stamp wins over reception in both formats, and both give the boot the
    same realtime - monotonic offset (reception times: one clock)."""
    data = Path(__file__).with_name("data")
    export = read_events(data / "journald-sshd.export")
    json_ = read_events(data / "journald-sshd.json")
    assert [f.attrs["files"][0].format for f in (export, json_)] == ["journald-export",
                                                                       "journald-json"]
    e, j = export.iloc[0], json_.iloc[0]
    assert (e.ts_ns, e.ident, e.message) == (1_473_824_149_642_517_000, "sshd",
                                             "Server listening on 0.0.0.0 port 22.")
    assert (j.ts_ns, j.ident) == (1_473_824_149_589_544_000, "systemd")
    assert e.boot_id == j.boot_id == "fb1bfa6113b6450a854607c6b628f1a6"
    reception = {"export": 1_473_824_149_642_795_000, "json": 1_473_824_149_589_978_000}
    assert reception["export"] - e.mono_ns == reception["json"] - j.mono_ns
    assert e.quantum_ns == j.quantum_ns == 1000
