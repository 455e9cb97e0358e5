"""The table schemas every stage agrees on (DESIGN.md "Contracts").

Times are int64 nanoseconds since the Unix epoch, UTC.  "None" values use the
sentinel given per column (never NaN in integer columns).
"""

# Packet table: one row per frame, in file order.  `read_packets` returns at
# least these columns with these dtypes ("category" = pandas Categorical).
PACKET_COLUMNS = {
    "frame": "int64",          # 1-based, as Wireshark numbers frames
    "ts_ns": "int64",          # capture timestamp, ns since epoch (if_tsoffset applied)
    "iface": "category",       # interface name; "#<id>" when the file names none
    "direction": "category",   # "in" | "out" | "" (unknown)
    "ip_version": "uint8",     # 4, 6, or 0 (no IP header decoded: not IP, encrypted MACsec,
                               # an unknown ethertype; docs/encapsulation.md)
    "src": "category",         # IP address text ("" when not IP; ARP: sender IP)
    "dst": "category",         # IP address text ("" when not IP; ARP: target IP)
    "proto": "int16",          # final upper-layer IP protocol number; -1 when not IP
    "sport": "int32",          # TCP/UDP/SCTP source port; -1 when none
    "dport": "int32",          # destination port; -1 when none
    "length": "uint32",        # original wire length
    "caplen": "uint32",        # captured length
    "tcp_flags": "int16",      # TCP flags byte (+ NS bit as 0x100); -1 when not TCP
    "icmp_type": "int16",      # ICMP / ICMPv6 type; -1 otherwise
    "icmp_code": "int16",      # ICMP / ICMPv6 code; -1 otherwise
    "ethertype": "int32",      # innermost ethertype (after VLAN tags) or SLL protocol; -1 if unknown
                               # (IP inside PPPoE session 0x8864 / MPLS 0x8847 / cleartext MACsec
                               # 0x88E5 is decoded; the column keeps the encapsulating ethertype;
                               # VXLAN / Geneve keep the outer header: docs/encapsulation.md)
    "vlan": "int16",           # outermost 802.1Q VLAN id; -1 when untagged
    "arp": "bool",             # ARP frame
    "fragment": "bool",        # IP fragment (any fragment; ports only from the first)
    "probe_seq": "int64",      # ksaudit probe: seq from a "KSAPROBE <seq> <send_ts_ns>" UDP payload; -1 otherwise
    "probe_send_ns": "int64",  # ksaudit probe: send time from the payload (sender's clock); -1 otherwise
    "ppp_proto": "int32",      # PPP protocol of a PPPoE session frame (0x0021 IPv4, 0xC021 LCP, ...); -1 otherwise
    "payload_len": "int32",    # TCP/UDP payload bytes by the IP length field (as tshark's tcp.len,
                               # udp.length - 8, also when the capture cut the frame); -1 when not
                               # TCP/UDP, a fragment, or unknown
    "payload_head": "int64",   # first 4 TCP/UDP payload bytes as a big-endian uint32; -1 when fewer
                               # were captured (or payload_len is -1)
}

# Event table: one row per log event.  Before alignment `ts_ns`, `t_lo_ns` and
# `t_hi_ns` are on the event's own source clock ([ts, ts + quantum)); after
# `ksaudit.align` they are on the reference clock and `src_ts_ns` keeps the
# original.
EVENT_COLUMNS = {
    "ts_ns": "int64",
    "kind": "category",        # one of EVENT_KINDS
    "source": "category",      # format name that parsed it, e.g. "journald-json"
    "file": "category",        # path of the log file as given
    "line": "int64",           # 1-based line or record number
    "raw_ts": "object",        # timestamp text exactly as in the file
    "quantum_ns": "int64",     # resolution of the raw timestamp
    "message": "object",
    "t_lo_ns": "int64",
    "t_hi_ns": "int64",
    "source_clock": "category",  # clock name (scenario.yaml `clock`, default "device")
    "boot_id": "object",       # "" when unknown
    "mono_ns": "int64",        # monotonic time when the source has one; -1 otherwise
    "tz_source": "category",   # "explicit" (in the line) | "declared" (argument/scenario) | "assumed-utc" (epoch formats)
    "iface": "object",         # interface the event names; "" when none
    "probe_seq": "int64",      # probe log events: seq; -1 otherwise
    "probe_dst": "object",     # probe log events: "addr:port"; "" otherwise
    "probe_result": "object",  # probe log events: "sent" or errno name; "" otherwise
    "src_ts_ns": "int64",      # filled by align: the original source-clock time
    "segment": "int64",        # filled by align: clock segment id; -1 before alignment
    "ambiguous": "bool",       # wall time in a repeated/skipped DST hour: [t_lo, t_hi] covers both readings
    "ident": "object",         # syslog identifier / process / EVTX provider / logcat tag; "" when none
    "rule": "object",          # recognition rule that set `kind`; "" when none
}

EVENT_KINDS = (
    "tunnel_down", "tunnel_up", "firewall_block", "firewall_release",
    "link_down", "link_up", "sleep", "wake", "process_exit", "process_start",
    "network_change", "clock_step", "probe", "other",
)
