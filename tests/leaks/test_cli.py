"""`ksaudit analyze`: exit codes, --json, --leaks, bad input as one line."""

import json
import subprocess
import sys

import pandas as pd

from leak_builder import window


def run(*args):
    return subprocess.run([sys.executable, "-m", "ksaudit.cli", "analyze", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def run_here(capsys, *args):
    """The same entry point in this process (no interpreter start: faster)."""
    from ksaudit.cli import main
    code = main(["analyze", *map(str, args)])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def test_fail_exit_1_with_json_and_parquet(builder, tmp_path):
    builder.probes_run(0, 2000, window(1000, 1200))
    builder.down_up(1000, 1200)
    root = builder.write()
    out, leaks = tmp_path / "a.json", tmp_path / "leaks.parquet"
    proc = run(root, "--json", out, "--leaks", leaks)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("scn: FAIL") and "window 190000 us" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "FAIL" and doc["schema"] == "ksaudit.analysis/1"
    assert doc["episodes"][0]["window_us"] == 190000
    table = pd.read_parquet(leaks)
    assert len(table) == doc["leaks"]["total"] == 20
    assert set(table["capture"]) == {"device.pcap"} and (table["rule"] == "leak").all()
    # the same document byte for byte on a second run
    again = run(root, "--json", "-")
    assert again.stdout == out.read_text()


def test_pass_exit_0_and_inconclusive_exit_3(builder, capsys):
    builder.probes_run(0, 2000, lambda t: "block" if 1000 <= t < 1200 else "up")
    builder.down_up(1000, 1200)
    root = builder.write()
    proc = run_here(capsys, root, "--quiet")
    assert (proc.returncode, proc.stdout) == (0, "PASS\n")
    builder.write(captures=[{"file": "device.pcap", "dropped": 2}])
    proc = run_here(capsys, root)
    assert proc.returncode == 3 and "dropped_packets" in proc.stdout


def test_bad_input_is_one_line_exit_2(builder, tmp_path):
    builder.probes_run(0, 200, lambda t: "up")
    root = builder.write(policy={"allow_lan": False, "tolerence_us": 5})
    proc = run(root)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "tolerence_us" in proc.stderr
    proc = run(tmp_path / "nowhere")
    assert proc.returncode == 2 and proc.stderr.startswith("ksaudit: error:")
    builder.down_up(50, 100)
    builder.write(frames=[])                 # a valid capture holding no frame at all
    proc = run(root)
    assert proc.returncode == 3 and "capture_gap" in proc.stdout
    (root / "device.pcap").write_bytes(b"this is not a capture at all" * 10)
    proc = run(root)
    assert proc.returncode == 2 and "device.pcap" in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_outputs_are_one_line_exit_2(builder, tmp_path, capsys):
    builder.probes_run(0, 2000, lambda t: "block" if 1000 <= t < 1200 else "up")
    builder.down_up(1000, 1200)
    root = builder.write()
    for flag in ("--json", "--leaks"):
        proc = run_here(capsys, root, flag, tmp_path / "no" / "such" / "dir" / "out")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and "cannot write: None" not in proc.stderr
    empty = tmp_path / "empty.parquet"                  # PASS: an empty table, same columns
    assert run_here(capsys, root, "--quiet", "--leaks", empty).returncode == 0
    assert len(pd.read_parquet(empty)) == 0 and "rule" in pd.read_parquet(empty).columns
