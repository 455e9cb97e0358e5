import json

import pandas as pd

from ksaudit.cli import main

T0 = 1_795_587_593_463_073


def _journal(write, jline):
    return write("j.json", jline(T0, "PM: suspend entry (deep)", "kernel")
                 + jline(T0 + 5, "hello", "app") + "broken\n")


def test_list_formats(capsys):
    assert main(["events", "--list-formats"]) == 0
    out = capsys.readouterr().out
    for name in ("journald-json", "rfc3164", "evtx", "logcat", "ksaudit-probe", "wireguard-go"):
        assert name in out


def test_summary_and_recognised_events(write, jline, capsys):
    path = _journal(write, jline)
    assert main(["events", str(path)]) == 0
    captured = capsys.readouterr()
    assert "format journald-json (sniffed, score 0.95), 2 events, 1 malformed" in captured.err
    assert "line 3: not a JSON object: broken" in captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1 and "\tsleep\t" in lines[0] and lines[0].startswith(str(T0 * 1000))


def test_write_csv_and_parquet(write, jline, tmp_path, capsys):
    path = _journal(write, jline)
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"events.{suffix}"
        assert main(["events", str(path), "-o", str(out)]) == 0
        df = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
        assert df["ts_ns"].tolist() == [T0 * 1000, (T0 + 5) * 1000]
        assert df["kind"].astype(str).tolist() == ["sleep", "other"]


def test_errors_are_one_line_exit_2(write, capsys):
    path = write("wg.log", "DEBUG: (wg0) 2026/11/25 08:01:02 Device closing\n")
    assert main(["events", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ksaudit: error:") and "without a zone" in err[0]
    assert main(["events", str(path), "--timezone", "UTC", "-o", str(path) + ".xlsx"]) == 2
    assert main(["events"]) == 2


def test_user_rules_file(write, jline, tmp_path, capsys):
    path = write("j.json", jline(T0, "acme: kill switch on", "acme"))
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps([{"name": "acme", "kind": "firewall_block",
                                  "regex": "kill switch on"}]))
    assert main(["events", str(path), "--rules", str(rules)]) == 0
    assert "\tfirewall_block\t" in capsys.readouterr().out


def test_bad_inputs_one_line_exit_2(write, jline, tmp_path, capsys):
    journal = _journal(write, jline)
    cases = [
        (["events", str(journal), "--format", "rfc3164"],
         "declared format rfc3164 but it looks like journald-json"),
        (["events", str(journal), "--rules", str(tmp_path / "none.yaml")], "rules file "),
        (["events", str(journal), "--format", "nope"], "unknown log format 'nope'"),
        (["events", str(tmp_path / "missing.log")], "cannot read"),
        (["events", str(write("e.bin", b"\xff\xfe\x00\x01garbage" * 8))],
         "cannot tell the log format (binary data starting with bytes ff fe 00 01"),
        (["events", str(journal), "--year", "99999"], "year 99999 is outside"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("ksaudit: error:") and message in err[0], err


def test_year_from_mtime_is_said(write, capsys):
    import os
    path = write("syslog", "Nov 25 08:01:02 host kernel: PM: suspend entry (deep)\n")
    os.utime(path, (1_795_600_000, 1_795_600_000))      # 2026-11-25
    assert main(["events", str(path), "--timezone", "UTC"]) == 0
    assert "  note: year from the file's mtime: last line in 2026" in capsys.readouterr().err
