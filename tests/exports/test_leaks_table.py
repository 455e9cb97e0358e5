"""`analyze --leaks FILE`: CSV or Parquet by the extension, read back with pandas and
pyarrow; any other extension is one line before the analysis runs."""

import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq

from leak_builder import window


def analyze(*args):
    return subprocess.run([sys.executable, "-m", "ksaudit.cli", "analyze", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_csv_and_parquet_hold_the_same_rows(builder, tmp_path):
    builder.probes_run(0, 2000, window(1000, 1200))
    builder.down_up(1000, 1200)
    root = builder.write()
    csv, parquet, pq_short = tmp_path / "l.csv", tmp_path / "l.parquet", tmp_path / "l.PQ"
    for path in (csv, parquet, pq_short):
        assert analyze(root, "--quiet", "--leaks", path).returncode == 1
    assert csv.read_bytes()[:4] != b"PAR1" and parquet.read_bytes()[:4] == b"PAR1"
    assert pq_short.read_bytes()[:4] == b"PAR1"
    from_csv = pd.read_csv(csv)
    table = pq.read_table(parquet)
    from_parquet = table.to_pandas()
    assert len(from_csv) == len(from_parquet) == 20 and table.num_rows == 20
    assert list(from_csv.columns) == list(from_parquet.columns)
    assert (from_csv["ts_ns"] == from_parquet["ts_ns"]).all()      # int64 ns survive CSV
    assert from_csv["ts_ns"].dtype == "int64"
    for col in ("capture", "src", "dst", "rule", "frame", "episode"):
        assert from_csv[col].tolist() == from_parquet[col].tolist(), col
    assert set(from_csv["capture"]) == {"device.pcap"} and set(from_csv["dst"]) == {"203.0.113.80"}


def test_unknown_extension_is_one_line_before_analysis(builder, tmp_path):
    builder.probes_run(0, 200, lambda t: "up")
    root = builder.write()
    for name in ("leaks.txt", "leaks"):
        proc = analyze(root, "--leaks", tmp_path / name)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "unknown extension" in proc.stderr and "use .csv or .parquet" in proc.stderr
        assert proc.stdout == "" and not (tmp_path / name).exists()
