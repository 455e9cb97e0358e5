"""Files with many interfaces, and pcap records whose time fields no valid time has."""

import subprocess
import shutil
import struct

import pytest
from scapy.all import IP, UDP, Ether

from ksaudit.pcap import capture_info, read_packets

T0 = 1_795_587_593_000_000_000
PKT = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2))


def _many_interfaces(gen, sections, per_section):
    """Sections of IDBs, each interface's frame right after its IDB; resolutions and
    names vary by interface, and names repeat across sections."""
    blocks, expect = [], []
    for s in range(sections):
        blocks.append(gen.shb())
        for i in range(per_section):
            res = (6, 9, 3)[i % 3]
            blocks.append(gen.idb(1, name=f"if{i}", tsresol=res))
            ts = T0 + (s * per_section + i) * 1_000_000_000
            blocks.append(gen.epb(i, ts // 10 ** (9 - res), PKT))
            expect.append((f"if{i}", ts))
            if i % 50 == 49:      # a statistics block between them: more metadata
                blocks.append(gen.isb(i, ifdrop=1))
    return b"".join(blocks), expect


def test_many_interface_blocks_across_sections(tmp_path, gen):
    data, expect = _many_interfaces(gen, sections=3, per_section=700)
    path = tmp_path / "many.pcapng"
    path.write_bytes(data)
    df = read_packets(path)
    assert list(zip(df["iface"].astype(str), df["ts_ns"])) == expect
    info = capture_info(path)
    assert len(info.interfaces) == 2100 and info.dropped == 3 * 14
    assert [i.id for i in info.interfaces] == list(range(2100))
    if shutil.which("tshark"):
        out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e",
                              "frame.interface_name", "-e", "frame.interface_id"],
                             capture_output=True, text=True, timeout=120).stdout.split("\n")
        rows = [ln.split("\t") for ln in out if ln]
        assert [r[0] for r in rows] == [n for n, _ in expect]
        assert [int(r[1]) for r in rows] == [i % 700 for i in range(2100)]   # per section


def _pcap(records, nano=False):
    head = struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return head + b"".join(struct.pack("<IIII", sec, frac, len(PKT), len(PKT)) + PKT
                           for sec, frac in records)


@pytest.mark.parametrize("nano", [False, True])
def test_fraction_field_of_a_second_or_more_is_counted_and_warned(tmp_path, nano):
    one = 10 ** 9 if nano else 10 ** 6
    path = tmp_path / "frac.pcap"
    path.write_bytes(_pcap([(100, 5), (100, one + one // 2), (100, 2**32 - 1), (101, one - 1)],
                           nano))
    df = read_packets(path)
    unit = 1 if nano else 1000
    assert df["ts_ns"].tolist() == [100 * 10**9 + 5 * unit, 100 * 10**9 + (one + one // 2) * unit,
                                    100 * 10**9 + (2**32 - 1) * unit, 101 * 10**9 + (one - 1) * unit]
    info = capture_info(path)
    assert info.bad_fraction_frames == 2 and df.attrs["bad_fraction_frames"] == 2
    [warning] = info.warnings
    assert ("2 record(s) have a " + ("ns" if nano else "µs") + " field") in warning
    assert "first: frame 2" in warning
    assert not info.truncated


def test_valid_fraction_fields_give_no_warning(tmp_path):
    path = tmp_path / "ok.pcap"
    path.write_bytes(_pcap([(100, 0), (100, 999_999)]))
    info = capture_info(path)
    assert info.bad_fraction_frames == 0 and info.warnings == ()
