"""`ksaudit render CAPTURES/<build> [-o reports/<build>] [--jobs N] [--scheduler ADDR] [--sign KEY] [--junit FILE]`.

Exit code: 1 if any scenario FAILs, 3 if any is INCONCLUSIVE or ERROR (and none
FAILs), 0 when every scenario PASSes; 2 on bad usage (another render of the same
output running included); 130 on Ctrl-C, 143 on SIGTERM (nothing published either way).
"""

import os
import signal
import sys
import time


def add_arguments(parser):
    parser.add_argument("captures", metavar="CAPTURES/<build>",
                        help="build directory: one sub-directory (with scenario.yaml) per scenario")
    parser.add_argument("-o", "--out", metavar="DIR",
                        help="output directory (default reports/<build>); replaced as a whole")
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help=f"parallel renders, one kernel per process (default: CPUs, {os.cpu_count()})")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="render on this Dask distributed scheduler instead of local processes "
                             "(its workers need ksaudit and the same paths to captures and output)")
    parser.add_argument("--base-url", default="", metavar="URL",
                        help="prefix for report links in CHANGELOG-snippet.md (default: relative)")
    parser.add_argument("--timestamp", action="store_true",
                        help="record the render time (UTC; SOURCE_DATE_EPOCH if set) in summary.json "
                             "and the snippet; without it the output is byte-for-byte reproducible")
    parser.add_argument("--report-notebook", metavar="IPYNB",
                        help="render scenarios with this notebook instead of the shipped leak_report.ipynb "
                             "(parameters: scenario_dir, analysis_json)")
    parser.add_argument("--summary-notebook", metavar="IPYNB",
                        help="render index.html with this notebook instead of the shipped build_summary.ipynb "
                             "(parameters: reports_dir, reports_root, build)")
    parser.add_argument("--sign", metavar="KEY",
                        help="sign SHA256SUMS with this OpenSSH private key into SHA256SUMS.sig "
                             "(ssh-keygen -Y sign, namespace ksaudit; check with verify --key KEY.pub)")
    parser.add_argument("--trend", metavar="DIR", nargs="?", const="",
                        help="show the builds rendered under DIR in index.html's trend; --trend "
                             "alone: the builds beside this one (the other builds in the output's "
                             "parent directory). Default: none; index.html then depends on this "
                             "build only")
    parser.add_argument("--junit", metavar="FILE.xml",
                        help="also write the verdicts as JUnit XML for a CI system, each "
                             "scenario's report attached (docs/exports.md); outside the output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _timestamp():
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    seconds = int(epoch) if epoch and epoch.isdigit() else int(time.time())
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _notebook(given, default):
    from pathlib import Path

    from ksaudit.errors import KsauditError

    path = Path(given) if given else default
    if not path.is_file():
        raise KsauditError(f"{path}: no such notebook")
    return path


def _check_junit(args):
    """Refuse an unwritable --junit path, one inside the output directory (replaced
    as a whole and hashed into SHA256SUMS) or inside the evidence (a link to it
    included: the evidence is never written to), before anything is rendered."""
    from pathlib import Path

    from ksaudit.errors import KsauditError
    from ksaudit.exports.output import check_target
    from ksaudit.report.render import output_dir

    out = output_dir(args.captures, args.out)
    junit = Path(args.junit).resolve()
    if junit == out or out in junit.parents:
        raise KsauditError(f"--junit {args.junit}: must lie outside the output directory {out}")
    evidence = Path(args.captures).resolve()
    if junit == evidence or evidence in junit.parents:
        raise KsauditError(f"--junit {args.junit}: must lie outside the evidence directory "
                           f"{evidence} (evidence is never written to)")
    check_target(args.junit, "--junit")


def _write_junit(path, result):
    """JUnit XML of the rendered build; each scenario's report is its attachment."""
    from ksaudit.exports.junit import junit_xml
    from ksaudit.exports.output import atomic_output
    from ksaudit.report.render import _display_path

    cwd = os.getcwd()
    doc = result.summary
    entries = [dict(s, attachments=[_display_path(result.out_dir / s["report"], cwd)])
               for s in doc["scenarios"]]
    with atomic_output(path) as fh:
        fh.write(junit_xml(doc["build"], entries))


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def run(args):
    from ksaudit.errors import KsauditError
    from ksaudit.report.render import REPORT_NOTEBOOK, SUMMARY_NOTEBOOK, output_dir, render_build
    from ksaudit.safeio import shown

    if args.jobs is not None and args.jobs < 1:
        raise KsauditError(f"--jobs {args.jobs}: must be at least 1")
    if args.scheduler and "://" not in args.scheduler:
        raise KsauditError(f"--scheduler {args.scheduler}: expected an address like tcp://host:8786")
    if args.junit:
        _check_junit(args)
    trend = str(output_dir(args.captures, args.out).parent) if args.trend == "" else args.trend
    # SIGTERM unwinds like Ctrl-C: workers killed, the staging directory removed
    signal.signal(signal.SIGTERM, _terminate)
    result = render_build(args.captures, out=args.out, jobs=args.jobs, scheduler=args.scheduler,
                          base_url=args.base_url, sign=args.sign, trend=trend,
                          timestamp=_timestamp() if args.timestamp else None,
                          report_notebook=_notebook(args.report_notebook, REPORT_NOTEBOOK),
                          summary_notebook=_notebook(args.summary_notebook, SUMMARY_NOTEBOOK),
                          progress=not args.quiet)
    doc = result.summary
    width = max(len(s["name"]) for s in doc["scenarios"])
    for s in doc["scenarios"]:
        extra = "  " + " ".join(str(s["error"]).split()) if s.get("error") else ""
        print(f"{shown(s['name']):<{width}}  {s['verdict']}{extra}")
    if doc.get("summary_error"):
        print(f"build summary: ERROR  {doc['summary_error']}")
    print(f"{doc['build']}: {doc['verdict']}  -> {result.out_dir / 'index.html'}")
    if args.junit:
        _write_junit(args.junit, result)
    sys.stdout.flush()
    return result.exit_code
