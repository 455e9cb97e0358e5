"""The probe generator: runs on the device, sends ``KSAPROBE <seq> <send_ts_ns>`` over UDP
every interval whatever the tunnel's state, and logs one JSON line per attempt
(``format: ksaudit-probe``)::

    {"ts_ns": 1795587593463073150, "seq": 412, "dst": "203.0.113.80:33434", "proto": "udp", "result": "sent"}

``result`` is ``sent`` or the errno name (EPERM when nftables drops, ENETUNREACH ...).
With ``--dns-resolver-file`` it also sends a DNS query for ``p<seq>.probe.ksaudit.test``
to the resolver named in that file (the harness rewrites it as the client switches
DNS), logged with ``"proto": "dns"``.

Run: ``python3 -m ksaudit.lab.probe --log FILE --dst 203.0.113.80:33434 [--dst ...]``;
stops on SIGTERM/SIGINT or after ``--max-s``.
"""

import argparse
import errno
import json
import os
import signal
import socket
import struct
import sys
import time

_stop = False


def _on_signal(signum, frame):
    global _stop
    _stop = True


def parse_dst(text):
    """'203.0.113.80:33434' or '[2001:db8::1]:33434' -> (family, host, port)."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return socket.AF_INET6, host, int(port)
    host, _, port = text.rpartition(":")
    return socket.AF_INET, host, int(port)


def dns_query(seq):
    """A minimal DNS A query for p<seq>.probe.ksaudit.test (id = seq mod 2^16)."""
    header = struct.pack("!HHHHHH", seq & 0xFFFF, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p for p in f"p{seq}.probe.ksaudit.test".encode().split(b".")) + b"\0"
    return header + qname + struct.pack("!HH", 1, 1)


def _result(sock, payload, addr):
    try:
        sock.sendto(payload, addr)
        return "sent"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, f"E{exc.errno}")


def _read_resolver(path, cache):
    try:
        st = os.stat(path)
        if cache.get("mtime") != st.st_mtime_ns:
            with open(path) as fh:
                cache["addr"] = fh.read().strip()
            cache["mtime"] = st.st_mtime_ns
    except OSError:
        pass
    return cache.get("addr")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ksaudit.lab.probe", description=__doc__.splitlines()[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--dst", action="append", default=[], help="probe target host:port (repeat)")
    ap.add_argument("--lan-dst", action="append", default=[],
                    help="LAN target host:port, probed every --lan-every ticks")
    ap.add_argument("--dns-resolver-file", help="file holding the current resolver address")
    ap.add_argument("--lan-every", type=int, default=5)
    ap.add_argument("--interval-ms", type=float, default=10.0)
    ap.add_argument("--max-s", type=float, default=120.0)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    socks = {socket.AF_INET: socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
             socket.AF_INET6: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)}
    for s in socks.values():
        s.setblocking(False)
    targets = [(parse_dst(d), d) for d in args.dst]
    lan_targets = [(parse_dst(d), d) for d in args.lan_dst]
    interval_ns = int(args.interval_ms * 1e6)
    start = time.monotonic_ns()
    end = start + int(args.max_s * 1e9)
    seq, tick, cache = 0, 0, {}
    with open(args.log, "w", buffering=1) as log:
        def attempt(family, host, port, label, proto, payload_fn):
            nonlocal seq
            seq += 1
            ts_ns = time.time_ns()
            result = _result(socks[family], payload_fn(seq, ts_ns), (host, port))
            log.write(json.dumps({"ts_ns": ts_ns, "seq": seq, "dst": label, "proto": proto,
                                  "result": result}) + "\n")

        def probe_payload(s, ts):
            return f"KSAPROBE {s} {ts}".encode()

        while not _stop and time.monotonic_ns() < end:
            for (family, host, port), label in targets:
                attempt(family, host, port, label, "udp", probe_payload)
            if tick % args.lan_every == 0:
                for (family, host, port), label in lan_targets:
                    attempt(family, host, port, label, "udp", probe_payload)
                resolver = _read_resolver(args.dns_resolver_file, cache) if args.dns_resolver_file else None
                if resolver:
                    attempt(socket.AF_INET, resolver, 53, f"{resolver}:53", "dns",
                            lambda s, ts: dns_query(s))
            for s in socks.values():          # drain replies so no ICMP port-unreachable is sent
                try:
                    while True:
                        s.recv(2048)
                except OSError:
                    pass
            tick += 1
            # next tick on the fixed grid; after a stall skip ahead instead of bursting
            now = time.monotonic_ns()
            nxt = start + tick * interval_ns
            if nxt < now:
                tick = (now - start) // interval_ns + 1
                nxt = start + tick * interval_ns
            time.sleep(max(0, nxt - time.monotonic_ns()) / 1e9)
    return 0


if __name__ == "__main__":
    sys.exit(main())
