"""Benchmark ksaudit.dissect: a few hundred frames out of a 1,000,000-frame pcap.

Usage: python3 benchmarks/bench_dissect.py [--frames 300] [--out benchmarks/data/dissect-1m.pcap]

Writes (once) a 1M-frame Ethernet pcap, mostly WireGuard-like UDP with a DNS
query every 5,000 frames and a TLS ClientHello every 7,000, then times dissect()
on `--frames` random frames spread over the whole file (so the scan runs to the
end) in three modes: scapy only, scapy + tshark on the requested frames
(context="frames", the default), and scapy + tshark over the file (context="file").
Before them, one warm-up call (imports scapy, loads the compiled walk) and the
record-finding step alone, both ways: the compiled walk dissect uses
(``seek.locate_frames``) and scapy's own record reader (the old way, still
dissect's fallback for gzip files and damaged tails).
"""

import argparse
import os
import random
import resource
import struct
import time

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from ksaudit.pcap.dissect import _scapy_records, dissect
from ksaudit.pcap.seek import locate_frames

N = 1_000_000


def client_hello(sni: bytes) -> bytes:
    sn = struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni
    ext = struct.pack("!HH", 0, len(sn)) + sn
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00\x00\x02\x13\x01\x01\x00" + struct.pack("!H", len(ext)) + ext
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def write(path: str) -> None:
    wg = bytes(Ether() / IP(src="10.0.0.2", dst="198.51.100.2") / UDP(sport=51820, dport=51820) / Raw(b"w" * 120))
    dns = bytes(Ether() / IP(src="10.0.0.2", dst="203.0.113.53") / UDP(sport=5353, dport=53)
                / DNS(qd=[DNSQR(qname="leak.example.com")]))
    tls = bytes(Ether() / IP(src="10.0.0.2", dst="203.0.113.81") / TCP(sport=40000, dport=443, flags="PA")
                / Raw(client_hello(b"leak.example.org")))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(N):
            d = dns if i % 5000 == 0 else tls if i % 7000 == 0 else wg
            fh.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, (i % 1000) * 1000, len(d), len(d)) + d)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--out", default="benchmarks/data/dissect-1m.pcap")
    args = ap.parse_args()
    if not os.path.exists(args.out):
        write(args.out)
    rng = random.Random(7)
    frames = sorted(rng.sample(range(1, N + 1), args.frames - 20)
                    + [i * 5000 + 1 for i in range(10)] + [i * 7000 + 1 for i in range(1, 11)] + [N])
    t0 = time.perf_counter()
    dissect(args.out, [1], tshark=None)
    print(f"warm-up (imports, compiled walk loaded): {time.perf_counter() - t0:.2f} s")
    print("| step | frames asked | wall s | frames found |")
    print("|---|---|---|---|")
    for label, find in (("find records: compiled walk (seek.locate_frames)",
                         lambda: locate_frames(args.out, frames).records),
                        ("find records: scapy RawPcapReader walk (before)",
                         lambda: _scapy_records(args.out, frames))):
        t0 = time.perf_counter()
        found = find()
        print(f"| {label} | {len(frames)} | {time.perf_counter() - t0:.2f} | {len(found)} |")
    print()
    print("| mode | frames asked | wall s | DNS names | TLS SNIs |")
    print("|---|---|---|---|---|")
    for label, kw in (("scapy only", {"tshark": None}), ("scapy + tshark, context=frames", {}),
                      ("scapy + tshark, context=file", {"context": "file"})):
        t0 = time.perf_counter()
        table = dissect(args.out, frames, **kw)
        wall = time.perf_counter() - t0
        print(f"| {label} | {len(frames)} | {wall:.2f} | {(table.dns_query != '').sum()} | "
              f"{(table.tls_sni != '').sum()} |")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
