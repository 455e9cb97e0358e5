"""`ksaudit analyze DIR [--json OUT] [--leaks OUT.csv|OUT.parquet] [--junit OUT.xml]`: verdict of one scenario.

Exit codes: 0 PASS, 1 FAIL (leak), 3 INCONCLUSIVE, 2 bad input.
"""

import json
import os
import sys

from ksaudit.errors import KsauditError

LEAK_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def add_arguments(parser):
    parser.epilog = ("exit codes: 0 PASS, 1 FAIL (a leak), 3 INCONCLUSIVE (every reason is "
                     "listed), 2 bad input; the document's keys: docs/analysis-json.md")
    parser.add_argument("scenario_dir", metavar="DIR", help="scenario directory (holds scenario.yaml)")
    parser.add_argument("--json", metavar="OUT", help="write the analysis document "
                        "(docs/analysis-json.md) to OUT ('-' for stdout)")
    parser.add_argument("--leaks", metavar="OUT.csv|OUT.parquet",
                        help="write every leaked frame and reply to a CSV or Parquet file "
                             "(by the extension: .csv, .parquet or .pq)")
    parser.add_argument("--junit", metavar="OUT.xml",
                        help="write the verdict as JUnit XML for a CI system (docs/exports.md)")
    parser.add_argument("--max-evidence", type=int, default=20, metavar="N",
                        help="leaked frames deep-dissected per episode (default 20; 0 = none)")
    parser.add_argument("--quiet", action="store_true", help="print only the verdict line")


def _summary(a) -> str:
    lines = [f"{a.scenario.name}: {a.verdict.status}"]
    for r in a.verdict.reasons:
        where = f"episode {r.episode}: " if r.episode else ""
        lines.append(f"  - {r.code}: {where}{r.message}")
    for e in a.episodes:
        w = "-" if e.window_ns is None else f"{e.window_ns // 1000} us"
        listed = "" if e.promised else " (a disconnect not promised to be blocked: listed only)"
        lines.append(f"  episode {e.id} {e.verdict}{listed}: leaked {e.leaked_frames} frames / "
                     f"{e.leaked_bytes} B to {len(e.destinations)} destination(s), window {w}, "
                     f"probes {e.probes['leaked']}/{e.probes['attempted']} leaked")
        lines.extend(f"    note: {n}" for n in e.notes)
    lines.extend(f"  note: {n}" for n in a.notes)
    from ksaudit.oslogs.cli import summary
    for lg in (lg for lg in a.logs if not lg.missing and (lg.malformed or lg.notes)):
        lines.append(f"  log {summary(lg)}")
        lines.extend(f"    note: {n}" for n in lg.notes)
    return "\n".join(lines)


def _leak_format(path) -> str:
    """'csv' or 'parquet' by the extension of `path`; KsauditError for any other."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in LEAK_FORMATS:
        raise KsauditError(f"--leaks {path}: unknown extension {ext or '(none)'!r}; "
                           "use .csv or .parquet")
    return LEAK_FORMATS[ext]


def _write_leaks(a, path, fmt):
    """Every leaked frame and reply, captures by file name, text columns as text."""
    from ksaudit.exports.output import atomic_output
    table = a.leaks.copy()
    table["capture"] = [a.captures[int(i)]["file"] for i in table["capture"]]
    for col in ("iface", "direction", "src", "dst", "rule", "category"):
        table[col] = table[col].astype(str)
    with atomic_output(path) as fh:
        if fmt == "csv":
            table.to_csv(fh, index=False, encoding="utf-8", lineterminator="\n")
        else:
            table.to_parquet(fh, index=False)


def _write_junit(a, doc, args):
    """The verdict as JUnit XML; the --json and --leaks files written are its attachments."""
    from ksaudit.exports.junit import junit_xml
    from ksaudit.exports.output import atomic_output
    from ksaudit.report.render import _display_path as display_path
    cwd = os.getcwd()
    attached = [display_path(p, cwd) for p in (args.json, args.leaks) if p and p != "-"]
    entry = {"name": a.scenario.name, "verdict": a.verdict.status, "error": None,
             "analysis": doc, "attachments": attached}
    with atomic_output(args.junit) as fh:
        fh.write(junit_xml(a.scenario.build, [entry]))


def run(args) -> int:
    from ksaudit.exports.output import atomic_output, check_target, refuse_evidence
    from ksaudit.leaks.analysis import analyze
    if args.max_evidence < 0:
        raise KsauditError("--max-evidence must be >= 0")
    leak_format = _leak_format(args.leaks) if args.leaks else None
    for option, path in (("--json", args.json), ("--leaks", args.leaks), ("--junit", args.junit)):
        if path and path != "-":
            check_target(path, option)
    a = analyze(args.scenario_dir, max_evidence=args.max_evidence, deep=args.max_evidence > 0)
    for option, path in (("--json", args.json), ("--leaks", args.leaks), ("--junit", args.junit)):
        if path and path != "-":
            refuse_evidence(path, option, a)
    doc = a.to_dict()
    if args.json:
        text = json.dumps(doc, sort_keys=True, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            with atomic_output(args.json) as fh:
                fh.write(text.encode("utf-8"))
    if args.leaks:
        _write_leaks(a, args.leaks, leak_format)
    if args.junit:
        _write_junit(a, doc, args)
    if args.json != "-":
        print(a.verdict.status if args.quiet else _summary(a))
    return a.verdict.exit_code
