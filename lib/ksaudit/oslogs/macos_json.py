"""macOS ``log show --style json``: one JSON array of records (pretty-printed).

Records as in ``macos-ndjson``; ``line`` is the line where each record starts.
A cut-off array keeps every complete record and counts the rest malformed.
"""

import json
import re

from ksaudit.oslogs.base import open_lines
from ksaudit.oslogs.macos_common import PREAMBLE, is_trailer, record_row, skip_preamble

NAME = "macos-json"
DESCRIPTION = "macOS log show --style json (a JSON array)"
_LEAD = re.compile(r"\s*(?:(?:%s)[^\n]*(?:\n\s*|$))*" % "|".join(p.decode() for p in PREAMBLE))


def sniff(head):
    """Score 0..1 that ``head`` is macOS json."""
    text = skip_preamble(head)
    if text.startswith(b"[") and b'"eventMessage"' in text[:4000] and b'"timestamp"' in text[:4000]:
        return 0.95
    return 0.0


def parse(path, ctx):
    """Yield one event per record of ``path``."""
    with open_lines(path) as fh:
        text = fh.read().decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    if not text.strip():
        return
    pos = _LEAD.match(text).end()
    if not text.startswith("[", pos):
        ctx.bad(1, text[:80], "not a JSON array")
        return
    pos += 1
    line, counted = 1, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            rec, pos = decoder.raw_decode(text, pos)
        except ValueError:
            ctx.bad(line, text[pos:pos + 80], "record is not valid JSON (file cut off?)")
            return
        if is_trailer(rec):
            continue
        if not isinstance(rec, dict):
            ctx.bad(line, str(rec)[:80], "record is not a JSON object")
            continue
        try:
            yield record_row(rec, line)
        except ValueError as exc:
            ctx.bad(line, str(rec)[:80], str(exc))
