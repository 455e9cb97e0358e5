"""NetworkManager lines: the embedded ``[sec.frac]`` stamp wins over the carrier's.

NetworkManager writes ``<info>  [1672204207.8319] device (wg0): state change: …``:
its own realtime clock, 100 µs resolution, epoch (UTC).  Whatever format
carried the line (journald, syslog, NetworkManager's own file), that stamp is
closer to the event than the journal's reception time, so ``embedded.stamp_frame``
replaces ts_ns/raw_ts/quantum_ns with it.  NetworkManager's own log file (or
``journalctl -o cat`` of it) is also a format of its own here.
"""

import re

from ksaudit.oslogs.base import matched_lines, sniff_lines

NAME = "networkmanager"
DESCRIPTION = "NetworkManager's own log lines (<level>  [sec.frac] message)"
_LINE = re.compile(rb"^<(trace|debug|info|warn|error)>\s+\[((\d{9,11})\.(\d{1,9}))\]\s?(.*?)\r?$")


def sniff(head):
    """Score 0..1 that ``head`` is a bare NetworkManager log."""
    return sniff_lines(head, _LINE, 0.85)


def parse(path, ctx):
    """Yield one event per NetworkManager line of ``path``."""
    for n, m in matched_lines(path, ctx, _LINE, "a NetworkManager '<level>  [sec.frac]'"):
        _lvl, raw, sec, frac, _text = m.groups()
        yield {"ts_ns": int(sec) * 10**9 + int(frac.ljust(9, b"0")), "raw_ts": raw.decode(),
               "quantum_ns": 10 ** (9 - len(frac)), "line": n, "tz_source": "assumed-utc",
               "ident": "NetworkManager", "message": m.group(0).rstrip(b"\r").decode("utf-8", "replace")}
