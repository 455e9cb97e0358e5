"""macOS ``log show --style ndjson``: one JSON object per line.

``timestamp`` like ``2023-02-23 10:44:02.761747+0100`` (µs, with offset),
``eventMessage``, ``processImagePath``, ``subsystem``, ``category``, ``bootUUID``;
the output ends with a ``{"count": N, "finished": 1}`` record (not an event).
"""

from ksaudit.oslogs.base import json_lines
from ksaudit.oslogs.macos_common import PREAMBLE, is_trailer, record_row, skip_preamble

NAME = "macos-ndjson"
DESCRIPTION = "macOS log show --style ndjson"


def sniff(head):
    """Score 0..1 that ``head`` is macOS ndjson."""
    first = skip_preamble(head).split(b"\n", 1)[0]
    if first.startswith(b"{") and b'"eventMessage"' in first and b'"timestamp"' in first:
        return 0.95
    return 0.0


def parse(path, ctx):
    """Yield one event per record of ``path``."""
    for n, line, rec in json_lines(path, ctx, skip=PREAMBLE):
        if is_trailer(rec):
            continue
        if not isinstance(rec, dict):
            ctx.bad(n, line, "not a JSON object")
            continue
        try:
            yield record_row(rec, n)
        except ValueError as exc:
            ctx.bad(n, line, str(exc))
