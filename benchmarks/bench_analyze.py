"""Benchmark: `ksaudit.analyze` end to end on a 1,000,000-packet scenario.

Writes a scenario directory (SLL2 ns pcap as `tcpdump -i any` writes it,
journald-JSON log, probe log, scenario.yaml) with 100 s of traffic: tunnel
traffic on wg0 and its encapsulation to the endpoint on wlan0, inbound
replies, LAN and DNS-in-tunnel chatter, a probe every 10 ms, and one 2 s
tunnel-down episode during which part of the traffic leaks.  Then times
`analyze()` (after one warm-up run that compiles the packet reader) and reports
the stages.  Usage:

    python3 benchmarks/bench_analyze.py [--packets 1000000] [--dir /tmp/ksaudit-bench-analyze]
                                        [--runs 3] [--down-at-s 40]
"""

import argparse
import json
import os
import sys
import time
import tracemalloc

import numpy as np

T0 = 1_795_587_593_000_000_000
DURATION_NS = 100 * 10 ** 9
PROBE_NS = 10_000_000
REC = np.dtype([("sec", "<u4"), ("nsec", "<u4"), ("incl", "<u4"), ("orig", "<u4"),
                ("sll_proto", ">u2"), ("sll_res", ">u2"), ("ifindex", ">u4"), ("hatype", ">u2"),
                ("pkttype", "u1"), ("halen", "u1"), ("addr", "u1", 8),
                ("ver_ihl", "u1"), ("tos", "u1"), ("tot_len", ">u2"), ("ip_id", ">u2"),
                ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("csum", ">u2"),
                ("src", "u1", 4), ("dst", "u1", 4),
                ("sport", ">u2"), ("dport", ">u2"), ("ulen", ">u2"), ("ucsum", ">u2"),
                ("payload", "S40")])


def ip(text):
    return np.array([int(x) for x in text.split(".")], np.uint8)


def build(root, n, down_at_s=40):
    down = (T0 + down_at_s * 10 ** 9, T0 + (down_at_s + 2) * 10 ** 9)
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    rng = np.random.default_rng(7)
    ts = np.sort(T0 + rng.integers(0, DURATION_NS, n, dtype=np.int64))
    probe_ts = np.arange(T0, T0 + DURATION_NS, PROBE_NS, dtype=np.int64)
    kind = rng.choice(4, n, p=[0.45, 0.45, 0.07, 0.03])   # 0 wg0, 1 encap, 2 inbound encap, 3 LAN
    leaking = (ts >= down[0]) & (ts < down[1])
    kind[leaking & (kind < 3)] = 4                           # during the episode: leaks
    rec = np.zeros(n, REC)
    rec["sec"], rec["nsec"] = ts // 10 ** 9, ts % 10 ** 9
    rec["incl"] = rec["orig"] = REC.itemsize - 16
    rec["sll_proto"], rec["hatype"], rec["halen"] = 0x0800, 1, 6
    rec["ver_ihl"], rec["ttl"], rec["proto"] = 0x45, 64, 17
    rec["tot_len"], rec["ulen"] = 20 + 8 + 40, 8 + 40
    rec["payload"] = b"x" * 40
    rec["ifindex"] = np.where(kind == 0, 3, 2)
    rec["pkttype"] = np.where(kind == 2, 0, 4)
    dev, tun, ep = ip("192.168.50.2"), ip("10.64.0.2"), ip("198.51.100.2")
    sink, lan = ip("203.0.113.80"), ip("192.168.50.10")
    for k, src, dst, sp, dp in ((0, tun, sink, 40000, 443), (1, dev, ep, 51000, 51820),
                                (2, ep, dev, 51820, 51000), (3, dev, lan, 50000, 631),
                                (4, dev, sink, 40000, 443)):
        m = kind == k
        rec["src"][m], rec["dst"][m] = src, dst
        rec["sport"][m], rec["dport"][m] = sp, dp
    with open(os.path.join(root, "device.pcap"), "wb") as fh:
        # pcap header: ns magic, version 2.4, zone 0, sigfigs 0, snaplen, LINKTYPE_LINUX_SLL2
        fh.write(np.array([0xA1B23C4D, 0x00040002, 0, 0, 262144, 276], "<u4").tobytes())
        fh.write(rec.tobytes())
    with open(os.path.join(root, "logs", "probes.jsonl"), "w") as fh:
        for seq, t in enumerate(probe_ts, 1):
            res = "EPERM" if down[0] <= t < down[1] else "sent"
            fh.write(json.dumps({"ts_ns": int(t), "seq": seq, "dst": "203.0.113.80:33434",
                                 "proto": "udp", "result": res}) + "\n")
    with open(os.path.join(root, "logs", "journal.json"), "w") as fh:
        for t, msg in ((down[0], "tunnel down dev wg0"), (down[1], "tunnel up dev wg0")):
            us = str(t // 1000)
            fh.write(json.dumps({"__REALTIME_TIMESTAMP": us, "_SOURCE_REALTIME_TIMESTAMP": us,
                                 "__MONOTONIC_TIMESTAMP": str((t - T0) // 1000 + 10 ** 6),
                                 "_BOOT_ID": "0" * 32, "SYSLOG_IDENTIFIER": "ksaudit-lab-client",
                                 "MESSAGE": msg}) + "\n")
    with open(os.path.join(root, "scenario.yaml"), "w") as fh:
        fh.write("build: bench\nscenario: custom\n"
                 "device: {tunnel_interfaces: [wg0], physical_interfaces: [wlan0], "
                 "ifindex: {2: wlan0, 3: wg0}}\n"
                 "vpn: {endpoints: ['198.51.100.2:51820/udp']}\n"
                 "policy: {allow_lan: true}\n"
                 "captures: [{file: device.pcap, vantage: device, clock: device, dropped: 0}]\n"
                 "logs: [{file: logs/journal.json, format: journald-json},"
                 " {file: logs/probes.jsonl, format: ksaudit-probe}]\n")
    return int((kind == 4).sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/ksaudit-bench-analyze")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--down-at-s", type=int, default=40, choices=range(0, 98), metavar="S",
                    help="second of the 100 s capture where the 2 s episode starts (default 40)")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    leaks = build(args.dir, args.packets, args.down_at_s)
    print(f"built {args.packets} packets ({leaks} leaking) in {time.perf_counter() - t:.1f} s")
    import ksaudit
    t = time.perf_counter()
    ksaudit.analyze(args.dir)                          # warm-up: numba compile / cache load
    print(f"warm-up run: {time.perf_counter() - t:.2f} s")
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        a = ksaudit.analyze(args.dir)
        times.append(time.perf_counter() - t)
    shallow = []
    for _ in range(args.runs):
        t = time.perf_counter()
        ksaudit.analyze(args.dir, deep=False)
        shallow.append(time.perf_counter() - t)
    print(f"analyze(deep=False), no dissection: best {min(shallow):.2f} s, "
          f"median {sorted(shallow)[len(shallow) // 2]:.2f} s")
    tracemalloc.start()
    t = time.perf_counter()
    ksaudit.analyze(args.dir, deep=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    import cProfile
    import pstats
    prof = cProfile.Profile()
    prof.runcall(ksaudit.analyze, args.dir)
    stats = pstats.Stats(prof).stats
    stages = {"read_packets": "read_packets", "read_events": "read_events", "align": "align",
              "classify": "classify", "build_spans": "episodes", "episode_figures": "figures",
              "dissect_leaks": "dissect (evidence)", "sha256_file": "sha256"}
    parts = {}
    for (_, _, fn), (_, _, _, cum, _) in stats.items():
        if fn in stages:
            parts[stages[fn]] = parts.get(stages[fn], 0) + cum
    print("stages under cProfile (inflated by profiling): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    ep = a.episodes[0]
    print(f"verdict {a.verdict.status}; episode leaked {ep.leaked_frames} frames, "
          f"window {ep.window_ns // 1000} us; classification {a.classification}")
    print(f"analyze() end to end: best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
          f"worst {max(times):.2f} s over {len(times)} runs ({args.packets / min(times) / 1e6:.2f} M packets/s); "
          f"peak traced Python memory (deep=False run) {peak / 2 ** 20:.0f} MiB "
          f"({peak / args.packets:.0f} B/packet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
