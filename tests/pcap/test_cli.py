"""`ksaudit packets`: table to stdout/CSV/parquet, --ifindex, --summary, errors."""

import subprocess
import sys

import pandas as pd
import pytest
from scapy.all import IP, UDP, IPv6

from ksaudit import cli


@pytest.fixture
def any_capture(tmp_path, gen, frames):
    pk = [gen.sll2(bytes(IP(src="10.0.0.1", dst="1.1.1.1") / UDP(sport=5, dport=53)), 2, pkttype=4),
          gen.sll2(bytes(IPv6(src="::1", dst="::2") / UDP(sport=6, dport=7)), 3, proto=0x86DD)]
    path = tmp_path / "any.pcap"
    path.write_bytes(gen.pcap(frames(pk), linktype=276, nano=True)[:-3])   # cut: one warning
    return path


def test_csv_to_stdout_and_file(any_capture, tmp_path, capsys):
    assert cli.main(["packets", str(any_capture)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("frame,ts_ns,iface,direction")
    assert len(out.splitlines()) == 2
    assert err.startswith("ksaudit: warning: ") and "cut short" in err
    csv = tmp_path / "t.csv"
    assert cli.main(["packets", str(any_capture), "-o", str(csv), "--ifindex", "2=wlan0"]) == 0
    assert pd.read_csv(csv)["iface"].tolist() == ["wlan0"]


def test_parquet_keeps_dtypes(tmp_path, gen, frames):
    path = tmp_path / "x.pcap"
    path.write_bytes(gen.pcap(frames([bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP())]),
                              linktype=101))
    out = tmp_path / "t.parquet"
    assert cli.main(["packets", str(path), "-o", str(out)]) == 0
    df = pd.read_parquet(out)
    assert str(df["ts_ns"].dtype) == "int64" and str(df["src"].dtype) == "category"
    assert df["src"].tolist() == ["10.0.0.1"]


def test_summary(any_capture, capsys):
    assert cli.main(["packets", str(any_capture), "--summary", "--ifindex", "2=wlan0,3=wg0"]) == 0
    out = capsys.readouterr().out
    assert "format      pcap" in out and "276 (LINUX_SLL2)" in out
    assert "packets     1" in out and "truncated   yes, at byte" in out
    assert "wlan0" in out and "out" in out and "udp" in out


@pytest.mark.parametrize("args,message", [
    (["--ifindex", "wlan0=2"], "--ifindex"),
    (["-o", "out.txt"], "must end in .csv"),
])
def test_bad_options(any_capture, capsys, args, message):
    assert cli.main(["packets", str(any_capture), *args]) == 2
    assert message in capsys.readouterr().err


def test_not_a_capture_exits_2_without_traceback(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a capture\n")
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "packets", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("ksaudit: error: ") and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
