"""OS, VPN and probe logs -> the event table (schema.EVENT_COLUMNS).

One parser module per format, registered in ``registry``; recognising what a
line means is the separate, table-driven step in ``rules`` (rule shape
documented there; shipped table in rules.yaml, extended per scenario).

Recognition rules (shipped table + ``rules=``, e.g. scenario.yaml ``rules:``) are
mappings: ``name``, ``kind`` (one of schema.EVENT_KINDS), ``regex`` (searched in
the message; a named group ``iface`` names the interface), and optionally
``format`` (name(s)/globs; ``source`` is a synonym), ``identifier`` (regex on the
whole syslog identifier / process / EVTX provider / logcat tag), ``iface_regex``
(the captured iface must match) and ``iface`` (fixed).  First match wins; user
rules first.  Details: ``ksaudit.oslogs.rules``.

Columns added to schema.EVENT_COLUMNS: ``ambiguous`` (bool: the wall time fell in
a repeated or skipped DST hour; t_lo/t_hi cover both readings), ``ident``
(identifier the rules match on) and ``rule`` (rule that set ``kind``).
"""

import os

import pandas as pd

from ksaudit.errors import KsauditError
from ksaudit.oslogs import base, registry, rules as _rules
from ksaudit.oslogs.facts import LogFacts, Malformed
from ksaudit.oslogs.pipeline import build_table

__all__ = ["read_events", "list_formats", "LogFacts", "Malformed"]

_OPTION_KEYS = {"format", "timezone", "year", "clock", "file"}


def list_formats():
    """[(name, description)] of every registered format."""
    return [(name, mod.DESCRIPTION) for name, mod in registry.formats().items()]


def read_events(paths, format="auto", timezone=None, year=None, rules=None, clock="device"):
    """Read log files into one event table, recognised and on their source clocks.

    Parameters
    ----------
    paths : path, list of paths, list of (path, options) or list of mappings
        Options per file override the defaults below: ``format``, ``timezone``,
        ``year``, ``clock``.  A mapping may be a scenario.yaml ``logs:`` entry
        (``file``, ``format``, ``clock``, ``timezone``).
    format : str
        A registered format name, or "auto" to sniff it from the first lines a
        format can parse (a preamble such as wireguard-go's banner is skipped and
        reported in the file's notes).
    timezone : str or None
        Zone of zone-less timestamps ("Europe/Berlin", "UTC", "+02:00").  Formats
        that need one raise KsauditError without it; never guessed.
    year : int or None
        Year for formats that omit it (RFC 3164); default: the file's mtime year,
        with month roll-over handled.
    rules : list of mappings, YAML path, or None
        Extra recognition rules tried before the shipped table (see
        ``ksaudit.oslogs.rules``).
    clock : str
        Name of the clock the files were written on (scenario.yaml ``clock``).

    Returns
    -------
    pandas.DataFrame
        schema.EVENT_COLUMNS plus ``ambiguous``, ``ident``, ``rule``; sorted by
        ``ts_ns`` (then file, line).  ``df.attrs["files"]`` holds one
        ``LogFacts`` per file (``ksaudit.oslogs.facts``): format and how it was
        chosen ("declared" | "sniffed", with the sniff score), clock, timezone
        applied and where it came from, skipped preamble lines, events,
        malformed count and examples, DST-ambiguous stamps, quantum, notes.

    Raises
    ------
    KsauditError
        Unreadable file, unknown format, a file that looks like another format
        than declared, zone-less stamps without a timezone, nothing parseable.
    """
    rule_table = _rules.load_rules(rules)
    defaults = {"format": format, "timezone": timezone, "year": year, "clock": clock}
    frames, facts = [], []
    for path, opts in _normalise(paths):
        merged = {**defaults, **{k: v for k, v in opts.items() if v is not None}}
        frame, fact = _read_one(path, merged, rule_table)
        frames.append(frame)
        facts.append(fact)
    if not frames:
        raise KsauditError("read_events: no log files given")
    frames = [f for f in frames if len(f)]
    if len(frames) == 1:
        df = frames[0]
    else:
        df = pd.concat(frames, ignore_index=True) if frames else base.empty_events()
    if len(df):
        if not df["ts_ns"].is_monotonic_increasing:
            df = df.sort_values("ts_ns", kind="stable", ignore_index=True)
    df = base.apply_dtypes(df)
    df.attrs["files"] = facts
    return df


def _normalise(paths):
    if isinstance(paths, (str, os.PathLike, dict)):
        paths = [paths]
    out = []
    for item in paths:
        if isinstance(item, dict):
            opts = dict(item)
            if "file" not in opts:
                raise KsauditError(f"log entry {item!r} has no 'file'")
            path = opts.pop("file")
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], dict):
            path, opts = item[0], dict(item[1])
        elif isinstance(item, (str, os.PathLike)):
            path, opts = item, {}
        else:
            raise KsauditError(f"read_events: cannot use {item!r} as a log path")
        unknown = set(opts) - _OPTION_KEYS
        if unknown:
            raise KsauditError(f"{path}: unknown log option(s) {sorted(unknown)} "
                               f"(allowed: format, timezone, year, clock)")
        out.append((path, opts))
    return out


def _read_one(path, opts, rule_table):
    head = base.read_head(path, registry.HEAD_BYTES)
    fmt = opts.get("format") or "auto"
    if fmt == "auto":
        fmt, score, _ = registry.sniff_format(head, path)
        chosen_by = "sniffed"
    else:
        mod = registry.get_format(fmt)
        score = registry.score_of(mod, head)[0] if head else 0.0
        chosen_by = "declared"
        if head and score == 0.0:
            ranked = registry.scores(head)
            if ranked and ranked[0][0] >= 0.5:
                other = ranked[0][1]
                raise KsauditError(f"{path}: declared format {fmt} but it looks like {other} "
                                   f"({registry.get_format(other).DESCRIPTION})")
    mod = registry.get_format(fmt)
    ctx = base.ParseContext(path, fmt, opts.get("timezone"), opts.get("year"),
                            opts.get("clock") or "device")
    events = build_table(mod.parse(path, ctx), ctx, fmt, rule_table)
    if not len(events) and ctx.malformed:
        ex = ctx.examples[0]
        raise KsauditError(f"{path}: no line parses as {fmt} ({ctx.malformed} malformed; "
                           f"line {ex.line}: {ex.reason}: {ex.text[:80]!r})")
    if not registry.is_binary(head):        # record formats (EVTX) have no preamble
        ctx.settle(int(events["line"].min()) if len(events) else None, fmt,
                   lambda text: registry.score_of(mod, text.encode("utf-8"))[0] > 0)
    zones = events["tz_source"].astype(str).value_counts() if len(events) else {}
    given = opts.get("timezone")
    return events, LogFacts(
        file=str(path), format=fmt, clock=ctx.clock, chosen_by=chosen_by,
        sniff_score=round(float(score), 3),
        timezone=None if given is None else str(given),
        timezone_source=None if given is None else "declared",
        stamp_zones=tuple(sorted((str(k), int(v)) for k, v in dict(zones).items())),
        preamble_lines=ctx.preamble_lines, events=int(len(events)),
        malformed=int(ctx.malformed), malformed_examples=tuple(ctx.examples),
        ambiguous=int(ctx.ambiguous),
        quantum_ns=int(events["quantum_ns"].max()) if len(events) else None,
        notes=tuple(ctx.notes))
