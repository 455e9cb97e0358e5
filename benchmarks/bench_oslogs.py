"""Throughput of ksaudit.read_events: journald JSON, RFC 3164, EVTX (corpus file).

Usage: python3 benchmarks/bench_oslogs.py [--lines 1000000] [--repeat 3] [--evtx PATH]

Generates realistic journald-JSON and RFC 3164 files (mostly unrecognised lines,
~1 % tunnel/link/sleep lines the rules must find) in a temporary directory, then
times read_events end to end (parse + NetworkManager stamps + recognition +
table), best of --repeat runs after one untimed warm-up (numba cache), as wall
time and as this process's CPU time (the machine is shared: the load average is
printed).  Not a test: nothing here asserts a speed.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import ksaudit

T0_US = 1_795_587_593_463_073
NOISE = ["Started Session 4 of User alice.", "pam_unix(sudo:session): session closed for user root",
         "<info>  [{sec}.{frac:04d}] dhcp4 (wlan0): state changed new lease, address=192.0.2.7",
         "wlan0: RX AssocResp from 02:00:5e:00:53:01 (capab=0x411 status=0 aid=3)",
         "Accepted publickey for alice from 192.0.2.10 port 51122 ssh2: ED25519 SHA256:x"]
SIGNAL = ["<info>  [{sec}.{frac:04d}] device (wg0): state change: activated -> disconnected "
          "(reason 'none', sys-iface-state: 'managed')", "PM: suspend entry (deep)",
          "e1000e 0000:00:19.0 eth0: NIC Link is Down", "ksaudit-lab-client: tunnel down"]
IDENTS = ["systemd", "sudo", "NetworkManager", "kernel", "sshd"]


def _message(i, t_us):
    pool = SIGNAL if i % 100 == 0 else NOISE
    text = pool[i % len(pool)]
    return text.format(sec=t_us // 10**6, frac=(t_us // 100) % 10**4) if "{" in text else text


def write_journald(path, lines):
    boot = "0123456789abcdef0123456789abcdef"
    with open(path, "w") as fh:
        for i in range(lines):
            t = T0_US + i * 1000
            fh.write(json.dumps({
                "__CURSOR": f"s={boot};i={i:x};b={boot};m={i * 1000:x};t={t:x};x=0",
                "__REALTIME_TIMESTAMP": str(t), "__MONOTONIC_TIMESTAMP": str(5_000_000 + i * 1000),
                "_BOOT_ID": boot, "PRIORITY": "6", "SYSLOG_FACILITY": "3",
                "SYSLOG_IDENTIFIER": IDENTS[i % 5], "_PID": str(600 + i % 5), "_UID": "0",
                "_GID": "0", "_COMM": IDENTS[i % 5], "_EXE": f"/usr/sbin/{IDENTS[i % 5]}",
                "_SYSTEMD_UNIT": f"{IDENTS[i % 5]}.service", "_TRANSPORT": "journal",
                "_HOSTNAME": "laptop", "MESSAGE": _message(i, t),
                "_SOURCE_REALTIME_TIMESTAMP": str(t - 50)}) + "\n")


def write_rfc3164(path, lines):
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    with open(path, "w") as fh:
        for i in range(lines):
            s = i // 20   # 20 lines per second
            day, rem = divmod(s, 86400)
            fh.write(f"{months[10]} {25 + day % 3:2d} {rem // 3600:02d}:{rem // 60 % 60:02d}:"
                     f"{rem % 60:02d} laptop {IDENTS[i % 5]}[{600 + i % 5}]: "
                     f"{_message(i, T0_US + s * 10**6)}\n")


def timed(fn, repeat):
    """(best wall s, best process CPU s, result) over ``repeat`` runs."""
    best = best_cpu = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        best = dt if best is None else min(best, dt)
        best_cpu = dc if best_cpu is None else min(best_cpu, dc)
    return best, best_cpu, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--evtx", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                   "corpus", "evtx", "2-vss_7-System.evtx"))
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, writer, opts in (("journald-json", write_journald, {}),
                                   ("rfc3164", write_rfc3164, {"timezone": "Europe/Berlin",
                                                               "year": 2026})):
            path = os.path.join(tmp, name)
            writer(path, args.lines)
            size = os.path.getsize(path)
            ksaudit.read_events(path, format=name, **opts)   # compile/cache warm-up, not timed
            dt, dc, df = timed(lambda: ksaudit.read_events(path, format=name, **opts), args.repeat)
            recognised = int((df["kind"] != "other").sum())
            rows.append((name, len(df), size, dt, dc, recognised))
    if os.path.exists(args.evtx):
        import evtx
        dt, dc, df = timed(lambda: ksaudit.read_events(args.evtx, format="evtx"), args.repeat)
        rows.append(("evtx (corpus, read_events)", len(df), os.path.getsize(args.evtx), dt, dc,
                     int((df["kind"] != "other").sum())))
        dt, dc, n = timed(lambda: sum(1 for _ in evtx.PyEvtxParser(args.evtx).records_json()),
                          args.repeat)
        rows.append(("evtx (corpus, evtx package alone)", n, os.path.getsize(args.evtx), dt, dc, 0))
    print(f"load average before: {load0[0]:.2f}, after: {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs)")
    print("| input | records | MB | best wall s | records/s (wall) | best CPU s | records/s (CPU) "
          "| recognised |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, size, dt, dc, rec in rows:
        print(f"| {name} | {n:,} | {size / 1e6:.1f} | {dt:.2f} | {n / dt:,.0f} | {dc:.2f} | "
              f"{n / dc:,.0f} | {rec:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
