"""`ksaudit timeline SCENARIO -o FILE.jsonl|FILE.csv`: the scenario's timeline for Timesketch.

Every log event, episode boundary and leaked frame on the reference clock, with
Timesketch's fields (message, datetime, timestamp, timestamp_desc); the format by the
extension.  Exit code 0, or 2 on bad input.
"""


def add_arguments(parser):
    parser.epilog = ("columns: datetime, timestamp (us), timestamp_desc, message, data_type, "
                     "source, ts_ns, clock, ... (docs/exports.md)")
    parser.add_argument("scenario_dir", metavar="SCENARIO", help="scenario directory (holds scenario.yaml)")
    parser.add_argument("-o", "--out", metavar="FILE", required=True,
                        help="timeline file: .jsonl (JSON lines) or .csv")


def run(args) -> int:
    from ksaudit.exports.output import check_target, refuse_evidence
    from ksaudit.exports.timeline import timeline_format, write_timeline
    from ksaudit.leaks.analysis import analyze
    from ksaudit.safeio import shown

    fmt = timeline_format(args.out)
    check_target(args.out, "-o")
    analysis = analyze(args.scenario_dir, deep=False)
    refuse_evidence(args.out, "-o", analysis)
    rows = write_timeline(analysis, args.out)
    print(f"{shown(args.out)}: {rows} rows ({fmt})")
    return 0
