"""Small, real scenario directories built by code: an SLL2 capture (as `tcpdump -i any`
writes it) written with scapy, a journald-JSON log, a ksaudit probe log, scenario.yaml.

The device (192.168.50.2, fd00:50::2; tunnel address 10.64.0.2) sends one probe
every `interval_ms` to 203.0.113.80:33434.  `state(t_ms)` says what happens to
the probe sent at t: "up" (inside wg0 and encapsulated to the endpoint), "leak"
(straight out of wlan0), "block" (refused by the OS: EPERM, no frame).
"""

import json
from decimal import Decimal

import yaml
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinuxV2
from scapy.packet import Raw
from scapy.utils import PcapWriter

T0 = 1_795_587_593_000_000_000
MS = 1_000_000
DEV4, DEV6, TUN4 = "192.168.50.2", "fd00:50::2", "10.64.0.2"
ENDPOINT = ("198.51.100.2", 51820)
SINK = ("203.0.113.80", 33434)
SINK6 = ("2001:db8::80", 33434)
WLAN, WG = 2, 3
BOOT = "0123456789abcdef0123456789abcdef"


class Builder:
    def __init__(self, root):
        self.root = root
        self.frames = []          # (ts_ns, scapy packet)
        self.probes = []          # probe log records
        self.journal = []         # journald records
        self.spec = {
            "build": "2026.11.0-test", "platform": "linux", "scenario": "custom",
            "device": {"tunnel_interfaces": ["wg0"], "physical_interfaces": ["wlan0"],
                       "ifindex": {WLAN: "wlan0", WG: "wg0"}},
            "vpn": {"endpoints": [f"{ENDPOINT[0]}:{ENDPOINT[1]}/udp"]},
            "policy": {"allow_lan": False, "tolerance_us": 1000},
            "captures": [{"file": "device.pcap", "vantage": "device", "clock": "device"}],
            "logs": [{"file": "logs/journal.json", "format": "journald-json"},
                     {"file": "logs/probes.jsonl", "format": "ksaudit-probe"}],
        }

    # ------------------------------------------------------------ frames
    def frame(self, t_ns, pkt, ifindex=WLAN, out=True):
        proto = 0x86DD if pkt.haslayer(IPv6) else 0x0800
        self.frames.append((int(t_ns), CookedLinuxV2(proto=proto, ifindex=ifindex,
                                                      pkttype=4 if out else 0) / pkt))

    def udp(self, t_ns, src, dst, sport, dport, payload=b"x" * 32, ifindex=WLAN, out=True):
        ip = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
        self.frame(t_ns, ip / UDP(sport=sport, dport=dport) / Raw(payload), ifindex, out)

    def tunnel_packet(self, t_ns, payload=b"x" * 32):
        """A frame inside wg0 and its encapsulation to the endpoint on wlan0."""
        self.udp(t_ns, TUN4, SINK[0], 40000, SINK[1], payload, ifindex=WG)
        self.udp(t_ns + 20_000, DEV4, ENDPOINT[0], 51000, ENDPOINT[1], b"\x04" + b"y" * 80)

    def probes_run(self, start_ms, end_ms, state, interval_ms=10, v6=False, first_seq=1):
        seq = first_seq
        t = start_ms
        while t < end_ms:
            ts = T0 + t * MS
            st = state(t)
            payload = f"KSAPROBE {seq} {ts}".encode()
            dst = SINK6 if v6 else SINK
            result = "sent"
            if st == "up":
                self.tunnel_packet(ts + 5_000, payload)
            elif st == "leak":
                self.udp(ts + 5_000, DEV6 if v6 else DEV4, dst[0], 40000, dst[1], payload)
            elif st == "block":
                result = "EPERM"
            elif st == "silent":
                result = None
            if result is not None:
                host = f"[{dst[0]}]" if v6 else dst[0]
                self.probes.append({"ts_ns": ts, "seq": seq, "dst": f"{host}:{dst[1]}",
                                    "proto": "udp", "result": result})
            seq += 1
            t += interval_ms
        return seq

    # ------------------------------------------------------------ logs
    def log(self, t_ms, message, ident="ksaudit-lab-client"):
        us = (T0 + int(t_ms * MS)) // 1000
        self.journal.append({"__REALTIME_TIMESTAMP": str(us), "_SOURCE_REALTIME_TIMESTAMP": str(us),
                             "__MONOTONIC_TIMESTAMP": str(us - T0 // 1000 + 5_000_000),
                             "_BOOT_ID": BOOT, "SYSLOG_IDENTIFIER": ident, "PRIORITY": "6",
                             "MESSAGE": message, "_HOSTNAME": "device"})

    def down_up(self, down_ms, up_ms):
        self.log(down_ms, "tunnel down dev wg0")
        self.log(up_ms, "tunnel up dev wg0")

    # ------------------------------------------------------------ write
    def write(self, *, pcap="device.pcap", frames=None, **overrides):
        root = self.root
        (root / "logs").mkdir(parents=True, exist_ok=True)
        frames = self.frames if frames is None else frames
        w = PcapWriter(str(root / pcap), linktype=276, nano=True, sync=False)
        for ts, pkt in sorted(frames, key=lambda x: x[0]):
            pkt.time = Decimal(ts) / Decimal(10 ** 9)
            w.write(pkt)
        w.close()
        with open(root / "logs/journal.json", "w") as fh:
            for rec in sorted(self.journal, key=lambda r: int(r["__REALTIME_TIMESTAMP"])):
                fh.write(json.dumps(rec) + "\n")
        with open(root / "logs/probes.jsonl", "w") as fh:
            for rec in self.probes:
                fh.write(json.dumps(rec) + "\n")
        spec = json.loads(json.dumps(self.spec))
        for key, value in overrides.items():
            node, parts = spec, key.split(".")
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = value
        with open(root / "scenario.yaml", "w") as fh:
            yaml.safe_dump(spec, fh, sort_keys=False)
        return root


def window(down_ms, up_ms):
    """state(t): leak inside [down, up), tunnel otherwise."""
    return lambda t: "leak" if down_ms <= t < up_ms else "up"
