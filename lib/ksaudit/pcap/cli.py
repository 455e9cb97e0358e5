"""`ksaudit packets`: print or write the packet table of a capture, or its summary."""

import sys
import warnings

import pandas as pd

from ksaudit.errors import KsauditError
from ksaudit.pcap import linktypes

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 50: "esp", 47: "gre"}


def add_arguments(parser):
    parser.add_argument("capture", help="pcap or pcapng file")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="write the table to OUT.csv or OUT.parquet (default: CSV on stdout)")
    parser.add_argument("--ifindex", metavar="MAP", default=None,
                        help="interface index names for SLL2 ('any') captures, e.g. 2=wlan0,3=wg0")
    parser.add_argument("--summary", action="store_true",
                        help="print the file-level facts and counts per interface and protocol")


def parse_ifindex(text):
    """'2=wlan0,3=wg0' -> {2: 'wlan0', 3: 'wg0'}."""
    if not text:
        return None
    out = {}
    for item in text.split(","):
        num, sep, name = item.strip().partition("=")
        if not sep or not num.strip().isdigit() or not name.strip():
            raise KsauditError(f"--ifindex: expected N=NAME[,N=NAME...], got {item.strip()!r}")
        out[int(num)] = name.strip()
    return out


def _time(ns):
    return "-" if ns is None else f"{pd.Timestamp(ns, unit='ns', tz='UTC').isoformat()} ({ns})"


def summary_lines(df):
    """Human-readable summary of a packet table read by read_packets."""
    a = df.attrs
    lines = [f"capture     {a['path']}", f"format      {a['format']}",
             "link types  " + ", ".join(f"{t} ({linktypes.name(t)})"
                                        for t in a["link_types"]),
             "interfaces"]
    for i in a["interfaces"]:
        drops = ("" if i["isb_ifdrop"] is None and i["isb_osdrop"] is None
                 else f"  isb_ifdrop {i['isb_ifdrop']}  isb_osdrop {i['isb_osdrop']}")
        lines.append(f"  {i['id']:>3}  {i['name'] or '-':<12} linktype {i['linktype']:<4} "
                     f"snaplen {i['snaplen']:<7} tsresol {i['tsresol']:<6} "
                     f"tsoffset {i['tsoffset_s']} s{drops}")
    lines += [f"packets     {a['packets']}", f"first       {_time(a['first_ns'])}",
              f"last        {_time(a['last_ns'])}",
              f"dropped     {'unknown (no ISB counters)' if a['dropped'] is None else a['dropped']}",
              "truncated   " + (f"yes, at byte {a['truncated_at']}, after "
                                f"{_time(a['truncated_after_ns'])}" if a["truncated"] else "no")]
    lines.append("per interface")
    for (name, d), n in df.groupby(["iface", "direction"], observed=True).size().items():
        lines.append(f"  {name:<12} {d or '?':<4} {n}")
    lines.append("per protocol")
    kind = df["proto"].map(lambda p: PROTO_NAMES.get(p, f"ip-{p}")).astype(object)
    kind[df["ip_version"] == 0] = "non-ip"
    kind[df["arp"].to_numpy()] = "arp"
    for name, n in kind.value_counts().items():
        lines.append(f"  {name:<12} {n}")
    return lines


def run(args):
    from ksaudit.pcap import CaptureWarning, read_packets

    ifindex = parse_ifindex(args.ifindex)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CaptureWarning)
        df = read_packets(args.capture, ifindex=ifindex)
    for w in caught:
        print(f"ksaudit: warning: {w.message}", file=sys.stderr)
    if args.summary:
        print("\n".join(summary_lines(df)))
    if args.output:
        out = args.output
        try:
            if out.endswith(".parquet"):
                df.to_parquet(out, index=False)
            elif out.endswith(".csv") or out.endswith(".csv.gz"):
                df.to_csv(out, index=False)
            else:
                raise KsauditError(f"{out}: output must end in .csv, .csv.gz or .parquet")
        except OSError as exc:
            raise KsauditError(f"{out}: cannot write: {exc.strerror or exc}") from None
    elif not args.summary:
        df.to_csv(sys.stdout, index=False)
    return 0
