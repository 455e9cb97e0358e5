"""`ksaudit annotate`: pcapng copies whose leak comments real tshark finds, every frame
the same bytes, time and interface as in the evidence, the evidence untouched."""

import hashlib
import shutil
import struct
import subprocess
import sys

from pathlib import Path

import pytest
import yaml

import ksaudit
from ksaudit.exports.annotate import annotate_capture, annotate_scenario
from ksaudit.pcap import capture_info

SAMPLE = Path(__file__).resolve().parents[2] / "captures/samples/2026.11.0-lab/none-process-kill"
LEAK = 'frame.comment contains "leak"'
IDENTITY = ("frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "frame.encap_type",
            "frame.interface_id", "frame.interface_name", "frame.md5_hash")

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def tshark(path, fields, display_filter=None):
    cmd = ["tshark", "-n", "-r", str(path), "-o", "frame.generate_md5_hash:TRUE", "-T", "fields",
           "-E", "separator=|", *[a for f in fields for a in ("-e", f)]]
    if display_filter:
        cmd += ["-Y", display_filter]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "appears to" not in proc.stderr and "cut short" not in proc.stderr, proc.stderr
    return [tuple(line.split("|")) for line in proc.stdout.splitlines()]


def frames_matching(path, display_filter):
    return {int(r[0]) for r in tshark(path, ["frame.number"], display_filter)}


def digests(root):
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def evidence_frames(analysis, file):
    refs = set()
    for ep in analysis.episodes:
        for text in (*ep.start_evidence, *ep.end_evidence):
            if text.rsplit(" ", 1)[-1].startswith(file + "#"):
                refs.add(int(text.rsplit("#", 1)[1]))
    return refs


def check_scenario(scenario, out):
    """tshark finds exactly analyze's leaked frames of each capture, reads every frame as
    in the evidence, and the evidence is unchanged."""
    before = digests(scenario)
    results = dict(annotate_scenario(scenario, out))
    assert digests(scenario) == before
    analysis = ksaudit.analyze(scenario, deep=False)
    for i, cap in enumerate(analysis.captures):
        copy = out / (cap["file"].rsplit(".", 1)[0] + ".pcapng")
        leaked = set(analysis.leaks.loc[analysis.leaks["capture"] == i, "frame"].astype(int))
        assert bool(leaked) == (analysis.verdict.status == "FAIL"), cap["file"]
        assert frames_matching(copy, LEAK) == leaked
        assert frames_matching(copy, 'frame.comment contains "ksaudit leak"') == leaked
        boundaries = frames_matching(copy, 'frame.comment contains "ksaudit episode"')
        assert boundaries == evidence_frames(analysis, cap["file"])
        # a pcap has no interface block: tshark shows no interface id for it
        same = IDENTITY if cap["format"] == "pcapng" else IDENTITY[:5] + IDENTITY[7:]
        assert tshark(copy, same) == tshark(scenario / cap["file"], same)
        assert results[cap["file"]].frames == cap["packets"]
        assert capture_info(copy).format == "pcapng"
    return analysis


def test_lab_sample_pcap_to_pcapng(tmp_path):
    out = tmp_path / "annotated"
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "annotate", str(SAMPLE), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "device.pcap (pcap) -> " in proc.stdout and "294 frames" in proc.stdout
    analysis = check_scenario(SAMPLE, out)
    device = out / "device.pcapng"
    # the nanosecond capture keeps nanoseconds, its link type and snap length
    [iface] = capture_info(device).interfaces
    [orig] = capture_info(SAMPLE / "device.pcap").interfaces
    assert (iface.tsresol, iface.linktype, iface.snaplen) == ("10^-9", orig.linktype, orig.snaplen)
    [(first, comment)] = tshark(device, ["frame.number", "frame.comment"],
                                f"frame.number == {int(analysis.leaks['frame'].iloc[0])}")
    start = analysis.episodes[0].start_ns
    ts = int(analysis.leaks["ts_ns"].iloc[0])
    assert comment.startswith(f"ksaudit leak episode 1 {'-' if ts < start else '+'}")
    assert "rule=leak dst=203.0.113.80" in comment


@pytest.mark.parametrize("name", ["none-wifi-yank-lan-dns", "none-reconnect-3-trials",
                                  "strong-process-kill"])
def test_more_lab_samples(name, tmp_path):
    """DNS leaks with their replies, three episodes, and a PASS with nothing to mark."""
    analysis = check_scenario(SAMPLE.parent / name, tmp_path / "annotated")
    replies = analysis.leaks[analysis.leaks["rule"].astype(str) == "leak_reply"]
    for row in replies.head(3).itertuples():
        file = analysis.captures[int(row.capture)]["file"].replace(".pcap", ".pcapng")
        [(comment,)] = tshark(tmp_path / "annotated" / file, ["frame.comment"],
                              f"frame.number == {int(row.frame)}")
        assert comment.startswith("ksaudit leak episode") and "rule=leak_reply" in comment
    assert len(replies) == (12 if name == "none-wifi-yank-lan-dns" else 0)


def test_pcapng_evidence_is_copied_block_for_block(tmp_path):
    scenario = tmp_path / "scn"
    shutil.copytree(SAMPLE, scenario)
    for name in ("device", "external"):
        subprocess.run(["editcap", "-F", "pcapng", str(scenario / f"{name}.pcap"),
                        str(scenario / f"{name}.pcapng")], check=True, capture_output=True)
        (scenario / f"{name}.pcap").unlink()
    spec = yaml.safe_load((scenario / "scenario.yaml").read_text())
    for cap in spec["captures"]:
        cap["file"] = cap["file"].replace(".pcap", ".pcapng")
    (scenario / "scenario.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "annotated"
    check_scenario(scenario, out)
    # only the commented blocks changed: every other byte of the evidence is in the copy
    src, dst = (scenario / "device.pcapng").read_bytes(), (out / "device.pcapng").read_bytes()
    assert dst[:len(src) // 4] == src[:len(src) // 4]        # headers and early frames
    assert len(dst) > len(src)


def test_earlier_ksaudit_comments_are_dropped_the_analyst_s_kept(tmp_path):
    """Evidence whose frames already carry 'ksaudit leak' comments (an earlier annotation,
    or text typed to look like one, here on frames that did not leak) must not make the
    filter find them; other comments stay, and annotating the copy again changes nothing."""
    scenario = tmp_path / "scn"
    shutil.copytree(SAMPLE, scenario)
    analysis = ksaudit.analyze(scenario, deep=False)
    leaked = set(analysis.leaks.loc[analysis.leaks["capture"] == 0, "frame"].astype(int))
    clean, noted = sorted(set(range(1, 20)) - leaked)[:2]
    subprocess.run(["editcap", "-a", f"{clean}:ksaudit leak episode 1 fake",
                    "-a", f"{noted}:analyst note", "-a", f"{min(leaked)}:ksaudit leak stale",
                    str(scenario / "device.pcap"), str(scenario / "device.pcapng")],
                   check=True, capture_output=True)
    (scenario / "device.pcap").unlink()
    spec = yaml.safe_load((scenario / "scenario.yaml").read_text())
    spec["captures"][0]["file"] = "device.pcapng"
    (scenario / "scenario.yaml").write_text(yaml.safe_dump(spec))
    check_scenario(scenario, tmp_path / "a1")
    copy = tmp_path / "a1" / "device.pcapng"
    assert tshark(copy, ["frame.comment"], f"frame.number == {noted}") == [("analyst note",)]
    [(stale,)] = tshark(copy, ["frame.comment"], f"frame.number == {min(leaked)}")
    assert "stale" not in stale and stale.count("ksaudit leak") == 1
    shutil.copy(copy, scenario / "device.pcapng")          # the copy as evidence
    check_scenario(scenario, tmp_path / "a2")
    assert (tmp_path / "a2" / "device.pcapng").read_bytes() == copy.read_bytes()


# -- a pcapng file with two sections, several interfaces, SPB, custom block, ISB -------

def block(o, btype, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack(o + "II", btype, 12 + len(body)) + body + struct.pack(o + "I", 12 + len(body))


def opt(o, code, value):
    return struct.pack(o + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def shb(o, section_length=-1):
    return block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, section_length))


def idb(o, linktype, name, tsresol=None):
    opts = opt(o, 2, name.encode())
    if tsresol is not None:
        opts += opt(o, 9, bytes([tsresol]))
    return block(o, 1, struct.pack(o + "HHI", linktype, 0, 65535) + opts + b"\0\0\0\0")


def epb(o, ifid, ticks, data, opts=b""):
    body = struct.pack(o + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data) + 4)
    body += data + b"\0" * (-len(data) % 4)
    return block(o, 6, body + (opts + b"\0\0\0\0" if opts else b""))


def ipv4_udp(i):
    payload = f"frame {i}".encode()
    udp = struct.pack(">HHHH", 40000 + i, 53, 8 + len(payload), 0) + payload
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                       bytes([192, 168, 1, 2]), bytes([203, 0, 113, 53])) + udp


def ether(i):
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ipv4_udp(i)


def multi_interface_pcapng(path):
    """Frames 1-4 in a little-endian section (eth0 ns, wg0 µs), frame 5 a custom block,
    frame 6 a simple packet block, frames 7-8 in a big-endian section."""
    t = 1_795_587_593_123_456_789
    le = [shb("<", section_length=1), idb("<", 1, "eth0", 9), idb("<", 101, "wg0"),
          epb("<", 0, t, ether(1), opt("<", 2, struct.pack("<I", 2))),
          epb("<", 1, t // 1000 + 5, ipv4_udp(2), opt("<", 1, b"original note")),
          epb("<", 0, t + 7_000, ether(3)),
          epb("<", 1, t // 1000 + 9, ipv4_udp(4)),
          block("<", 0x00000BAD, struct.pack("<I", 32473) + b"custom data"),
          block("<", 3, struct.pack("<I", len(ether(6))) + ether(6)),
          block("<", 5, struct.pack("<III", 0, 0, 0) + opt("<", 5, struct.pack("<Q", 0))
                + b"\0\0\0\0")]
    be = [shb(">"), idb(">", 1, "eth1", 9),
          epb(">", 0, t + 50_000, ether(7)), epb(">", 0, t + 60_000, ether(8))]
    path.write_bytes(b"".join(le + be))
    return path


def test_several_interfaces_sections_and_block_kinds(tmp_path):
    src = multi_interface_pcapng(tmp_path / "in.pcapng")
    before = src.read_bytes()
    # tshark numbers the custom block as a frame too, as the packet table does
    assert [r[0] for r in tshark(src, ["frame.number"])] == [str(i) for i in range(1, 9)]
    assert ksaudit.read_packets(src)["frame"].tolist() == [1, 2, 3, 4, 6, 7, 8]
    comments = {2: ["ksaudit leak episode 1 +1.000 us rule=leak dst=203.0.113.53"],
                3: ["ksaudit leak episode 1 +2.000 us rule=leak", "ksaudit episode 1 end: x"],
                6: ["ksaudit leak steady-state rule=leak"], 8: ["ksaudit leak episode 2 +0.000 us"],
                1: ["ksaudit episode 1 start: tunnel traffic ended (defines the boundary)"]}
    result = annotate_capture(src, tmp_path / "out.pcapng", comments)
    out = tmp_path / "out.pcapng"
    assert src.read_bytes() == before
    assert (result.frames, result.commented, result.input_format) == (7, 5, "pcapng")
    assert frames_matching(out, LEAK) == {2, 3, 6, 8}
    assert frames_matching(out, 'frame.comment contains "ksaudit episode"') == {1, 3}
    assert frames_matching(out, 'frame.comment contains "original note"') == {2}
    same = [f for f in IDENTITY if f != "frame.time_epoch"]
    assert tshark(out, same) == tshark(src, same)
    times_in, times_out = (dict(tshark(p, ["frame.number", "frame.time_epoch"])) for p in (src, out))
    del times_in["6"], times_out["6"]   # a simple packet block has no time; the copy says 0
    assert times_in == times_out
    assert tshark(out, ["frame.number", "frame.time_epoch"], "frame.number == 6")[0][1].startswith("0.")
    # epb_flags (outbound) kept beside the new comment
    assert tshark(out, ["frame.packet_flags_direction"], "frame.number == 1") == [("0x00000002",)]
    info_in, info_out = capture_info(src), capture_info(out)
    assert info_out.interfaces == info_in.interfaces and len(info_out.interfaces) == 3
    # the uncommented blocks are there byte for byte: the untouched frames' blocks ...
    for i in (4, 7):
        frame = ether(i) if i != 4 else ipv4_udp(i)
        assert before[before.index(frame) - 28:before.index(frame) + len(frame)] in out.read_bytes()
    # ... and the custom and statistics blocks; the first section's length is now unknown
    data = out.read_bytes()
    assert struct.pack("<I", 32473) + b"custom data" in data
    assert data[16:24] == b"\xff" * 8 and before[16:24] != data[16:24]


def test_microsecond_pcap_keeps_its_resolution(tmp_path):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapWriter

    src = tmp_path / "us.pcap"
    w = PcapWriter(str(src), linktype=1, nano=False, sync=True)
    for i in range(5):
        pkt = Ether() / IP(src="192.168.1.2", dst="203.0.113.9") / UDP(dport=9) / (b"x" * i)
        pkt.time = 1795587593.000001 + i * 0.25
        w.write(pkt)
    w.close()
    with open(src, "ab") as fh:           # a last record cut short by the end of the file
        fh.write(struct.pack("<IIII", 1795587594, 0, 60, 60) + b"\0" * 10)
    result = annotate_capture(src, tmp_path / "us.pcapng", {3: ["ksaudit leak x"]})
    assert result.frames == 5 and "not copied" in result.notes[0]
    [iface] = capture_info(tmp_path / "us.pcapng").interfaces
    assert (iface.tsresol, iface.linktype) == ("10^-6", 1)
    good = IDENTITY[:5] + IDENTITY[7:]
    original = tshark_partial(src, good)
    assert len(original) == 5
    assert tshark(tmp_path / "us.pcapng", good) == original
    assert frames_matching(tmp_path / "us.pcapng", LEAK) == {3}


def tshark_partial(path, fields):
    """Rows tshark prints for a capture whose end is cut (it exits non-zero then)."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", "frame.generate_md5_hash:TRUE", "-T", "fields",
           "-E", "separator=|", *[a for f in fields for a in ("-e", f)]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return [tuple(line.split("|")) for line in proc.stdout.splitlines()]


def test_bad_inputs_are_one_line(tmp_path):
    def annotate(*args):
        return subprocess.run([sys.executable, "-m", "ksaudit.cli", "annotate", *map(str, args)],
                              capture_output=True, text=True, timeout=120)
    proc = annotate(SAMPLE, "-o", SAMPLE / "annotated")
    assert proc.returncode == 2 and "outside the scenario directory" in proc.stderr
    assert not (SAMPLE / "annotated").exists()
    proc = annotate(tmp_path / "nowhere", "-o", tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    (tmp_path / "file").write_text("x")
    proc = annotate(SAMPLE, "-o", tmp_path / "file")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_pcap_fcs_length_becomes_if_fcslen(tmp_path):
    """A pcap header's FCS bits (link type field: F flag, length in 16-bit words) become
    the interface's if_fcslen, so tshark finds and checks the frames' FCS in the copy."""
    import zlib
    frame = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + bytes(46)
    src = tmp_path / "fcs.pcap"
    src.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1 | 0x10000000 | 2 << 29)
                    + struct.pack("<IIII", 1795587593, 5, len(frame) + 4, len(frame) + 4)
                    + frame + struct.pack("<I", zlib.crc32(frame)))
    annotate_capture(src, tmp_path / "fcs.pcapng", {})
    rows = tshark(tmp_path / "fcs.pcapng", ["eth.fcs", "frame.len", "frame.md5_hash"])
    assert rows[0][0] == "0x" + struct.pack("<I", zlib.crc32(frame)).hex()   # the last 4 bytes
    assert rows[0][1:] == tshark_partial(src, ["frame.len", "frame.md5_hash"])[0]
