"""`ksaudit analyze DIR [--json OUT] [--leaks OUT.parquet]`: verdict of one scenario.

Exit codes: 0 PASS, 1 FAIL (leak), 3 INCONCLUSIVE, 2 bad input.
"""

import json
import sys

from ksaudit.errors import KsauditError


def add_arguments(parser):
    parser.epilog = ("exit codes: 0 PASS, 1 FAIL (a leak), 3 INCONCLUSIVE (every reason is "
                     "listed), 2 bad input; the document's keys: docs/analysis-json.md")
    parser.add_argument("scenario_dir", metavar="DIR", help="scenario directory (holds scenario.yaml)")
    parser.add_argument("--json", metavar="OUT", help="write the analysis document "
                        "(docs/analysis-json.md) to OUT ('-' for stdout)")
    parser.add_argument("--leaks", metavar="OUT.parquet",
                        help="write every leaked frame and reply to a Parquet file")
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
        lines.append(f"  episode {e.id} {e.verdict}: leaked {e.leaked_frames} frames / "
                     f"{e.leaked_bytes} B to {len(e.destinations)} destination(s), window {w}, "
                     f"probes {e.probes['leaked']}/{e.probes['attempted']} leaked")
        lines.extend(f"    note: {n}" for n in e.notes)
    lines.extend(f"  note: {n}" for n in a.notes)
    from ksaudit.oslogs.cli import summary
    for lg in (lg for lg in a.logs if not lg.missing and (lg.malformed or lg.notes)):
        lines.append(f"  log {summary(lg)}")
        lines.extend(f"    note: {n}" for n in lg.notes)
    return "\n".join(lines)


def run(args) -> int:
    from ksaudit.leaks.analysis import analyze
    if args.max_evidence < 0:
        raise KsauditError("--max-evidence must be >= 0")
    a = analyze(args.scenario_dir, max_evidence=args.max_evidence, deep=args.max_evidence > 0)
    if args.json:
        text = json.dumps(a.to_dict(), sort_keys=True, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            try:
                with open(args.json, "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise KsauditError(f"{args.json}: cannot write: {exc.strerror or exc}") from None
    if args.leaks:
        table = a.leaks.copy()
        table["capture"] = [a.captures[int(i)]["file"] for i in table["capture"]]
        for col in ("iface", "direction", "src", "dst", "rule", "category"):
            table[col] = table[col].astype(str)
        try:
            table.to_parquet(args.leaks, index=False)
        except OSError as exc:
            raise KsauditError(f"{args.leaks}: cannot write: {exc.strerror or exc}") from None
    if args.json != "-":
        print(a.verdict.status if args.quiet else _summary(a))
    return a.verdict.exit_code
