"""ksaudit probe log (DESIGN.md "Probes"): one JSON object per probe attempt.

``{"ts_ns": 1795587593463073150, "seq": 412, "dst": "203.0.113.80:33434",
"proto": "udp", "result": "sent"}`` — ``result`` is ``sent`` or the errno name.
``ts_ns`` is the generator's own clock in ns (epoch, UTC).
"""

from ksaudit.oslogs.base import json_lines

NAME = "ksaudit-probe"
DESCRIPTION = "ksaudit probe generator log (JSON lines with ts_ns, seq, dst, result)"
QUANTUM_NS = 1


def sniff(head):
    """Score 0..1 that ``head`` is a probe log."""
    first = head.lstrip().split(b"\n", 1)[0]
    if first.startswith(b"{") and b'"seq"' in first and b'"ts_ns"' in first and b'"result"' in first:
        return 0.98
    return 0.0


def parse(path, ctx):
    """Yield one ``probe`` event per well-formed line of ``path``."""
    for n, line, rec in json_lines(path, ctx):
        try:
            ts = rec["ts_ns"]
            seq = rec["seq"]
            result = rec["result"]
        except (KeyError, TypeError, IndexError):
            ctx.bad(n, line, "needs ts_ns, seq and result")
            continue
        if not (isinstance(ts, int) and isinstance(seq, int) and not isinstance(ts, bool)
                and isinstance(result, str) and ts > 0 and 0 <= seq < 2**63):
            ctx.bad(n, line, "ts_ns and seq must be non-negative integers, result a string")
            continue
        dst = str(rec.get("dst", ""))
        proto = str(rec.get("proto", "udp"))
        yield {"ts_ns": ts, "raw_ts": str(ts), "quantum_ns": QUANTUM_NS, "line": n,
               "tz_source": "assumed-utc", "kind": "probe", "ident": "ksaudit-probe",
               "probe_seq": seq, "probe_dst": dst, "probe_result": result,
               "message": f"probe {seq} {proto} to {dst}: {result}"}
