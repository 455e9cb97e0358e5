"""``ksaudit events``: read OS/VPN/probe logs into the event table."""

import sys
from pathlib import Path

import numpy as np

from ksaudit.errors import KsauditError


def add_arguments(parser):
    """Options of ``ksaudit events``."""
    parser.add_argument("logs", nargs="*", metavar="LOG", help="log files to read")
    parser.add_argument("--format", default="auto",
                        help="log format (default: auto, sniffed per file); see --list-formats")
    parser.add_argument("--timezone", help="zone of zone-less timestamps, e.g. Europe/Berlin, UTC")
    parser.add_argument("--year", type=int, help="year for formats without one (RFC 3164)")
    parser.add_argument("--clock", default="device", help="name of the clock the logs were written on")
    parser.add_argument("--rules", metavar="YAML", help="extra recognition rules (a YAML list)")
    parser.add_argument("-o", "--output", metavar="OUT", help="write the table to OUT.csv or OUT.parquet")
    parser.add_argument("--all", action="store_true",
                        help="print every event, not only recognised ones (without -o)")
    parser.add_argument("--list-formats", action="store_true", help="list the known formats and exit")


def run(args):
    """Read the logs; print a per-file summary on stderr and events (or write -o).

    Printed events are tab-separated: ts_ns, the same time in UTC (ISO 8601),
    kind [iface], file:line, message (a newline in it printed as ``\\n``).
    """
    from ksaudit.oslogs import list_formats, read_events
    if args.list_formats:
        for name, desc in list_formats():
            print(f"{name:18} {desc}")
        return 0
    if not args.logs:
        raise KsauditError("events: give at least one LOG (or --list-formats)")
    df = read_events(args.logs, format=args.format, timezone=args.timezone, year=args.year,
                     rules=args.rules, clock=args.clock)
    for fact in df.attrs["files"]:
        print(summary(fact), file=sys.stderr)
        for note in fact.notes:
            print(f"  note: {note}", file=sys.stderr)
        for ex in fact.malformed_examples:
            print(f"  line {ex.line}: {ex.reason}: {ex.text[:100]}", file=sys.stderr)
    if args.output:
        _write(df, args.output)
        return 0
    shown = df if args.all else df[df["kind"] != "other"]
    iso = np.datetime_as_string(shown["ts_ns"].to_numpy().astype("datetime64[ns]"), unit="ns",
                                timezone="UTC")
    for when, row in zip(iso, shown.itertuples(index=False)):
        iface = f" [{row.iface}]" if row.iface else ""
        message = row.message.replace("\n", "\\n")     # joined continuation lines
        print(f"{row.ts_ns}\t{when}\t{row.kind}{iface}\t{row.file}:{row.line}\t{message}")
    return 0


def summary(fact):
    """One line on what reading a log established (``oslogs.LogFacts``)."""
    how = fact.chosen_by if fact.chosen_by != "sniffed" else f"sniffed, score {fact.sniff_score:g}"
    text = (f"{fact.file}: format {fact.format} ({how}), {fact.events} events, "
            f"{fact.malformed} malformed")
    if fact.preamble_lines:
        text += f", {fact.preamble_lines}-line preamble skipped"
    if fact.ambiguous:
        text += f", {fact.ambiguous} in a repeated or skipped DST hour"
    return text


def _write(df, out):
    suffix = Path(out).suffix.lower()
    table = df.copy()
    table.attrs = {}
    try:
        if suffix == ".csv":
            table.to_csv(out, index=False)
        elif suffix == ".parquet":
            table.to_parquet(out, index=False)
        else:
            raise KsauditError(f"{out}: output must end in .csv or .parquet")
    except OSError as exc:
        raise KsauditError(f"{out}: cannot write: {exc.strerror or exc}") from exc
