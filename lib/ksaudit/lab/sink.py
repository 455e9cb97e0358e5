"""The sink: a small UDP server on the lab's "internet" host (and LAN printer / LAN
resolver addresses) that records every datagram that arrives, when, and from where.

One JSON line per arrival: ``{"ts_ns", "src", "dst", "proto", "seq", "send_ts_ns"}``;
``proto`` is ``udp`` (a KSAPROBE) or ``dns`` (a query ``p<seq>.probe.ksaudit.test``,
answered NXDOMAIN).  This is the lab's ground truth: the report must find the same
leaks from the capture without ever reading this file.

Run: ``python3 -m ksaudit.lab.sink --out FILE --listen udp:203.0.113.80:33434 ...``.
"""

import argparse
import json
import select
import signal
import socket
import sys
import time

from ksaudit.lab.probe import parse_dst

_stop = False


def _on_signal(signum, frame):
    global _stop
    _stop = True


def parse_probe(data):
    """(seq, send_ts_ns) from a KSAPROBE payload, or (None, None)."""
    parts = data.split()
    if len(parts) == 3 and parts[0] == b"KSAPROBE" and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2])
    return None, None


def parse_dns_seq(data):
    """seq from a query for p<seq>.probe.ksaudit.test, or None."""
    if len(data) < 14:
        return None
    label_len = data[12]
    label = data[13:13 + label_len]
    if label[:1] == b"p" and label[1:].isdigit():
        return int(label[1:])
    return None


def nxdomain(query):
    """The query echoed back as a response with RCODE 3."""
    if len(query) < 12:
        return None
    flags = 0x8183          # QR, RD, RA, NXDOMAIN
    return query[:2] + flags.to_bytes(2, "big") + query[4:6] + b"\0\0\0\0\0\0" + query[12:]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ksaudit.lab.sink", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--listen", action="append", default=[],
                    help="udp:HOST:PORT or dns:HOST:PORT ([v6]:port for IPv6)")
    ap.add_argument("--ready-file", help="created once every socket is bound")
    ap.add_argument("--max-s", type=float, default=300.0)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    socks = {}
    for spec in args.listen:
        proto, _, addr = spec.partition(":")
        family, host, port = parse_dst(addr)
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((host, port))
        socks[s] = (proto, addr)
    if args.ready_file:
        open(args.ready_file, "w").close()
    end = time.monotonic() + args.max_s
    with open(args.out, "w", buffering=1) as out:
        while not _stop and time.monotonic() < end:
            try:
                ready, _, _ = select.select(list(socks), [], [], 0.1)
            except InterruptedError:
                continue
            for s in ready:
                data, peer = s.recvfrom(4096)
                ts_ns = time.time_ns()
                proto, dst = socks[s]
                if proto == "dns":
                    seq, send_ts = parse_dns_seq(data), None
                    reply = nxdomain(data)
                    if reply:
                        s.sendto(reply, peer)
                else:
                    seq, send_ts = parse_probe(data)
                out.write(json.dumps({"ts_ns": ts_ns, "src": peer[0], "dst": dst, "proto": proto,
                                      "seq": seq, "send_ts_ns": send_ts}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
