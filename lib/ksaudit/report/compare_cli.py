"""`ksaudit compare REPORTS_A REPORTS_B [--html FILE] [--window-tolerance-us N]`: what
changed per scenario from build A (the baseline) to build B.

Exit code: 0 when no scenario got worse, 1 when one did (the regression gate; "worse"
is defined in docs/compare.md), 2 on bad usage or a build that does not verify.
"""


def add_arguments(parser):
    parser.add_argument("reports_a", metavar="REPORTS_A", help="the baseline build (reports/<build>)")
    parser.add_argument("reports_b", metavar="REPORTS_B", help="the build to judge (reports/<build>)")
    parser.add_argument("--html", metavar="FILE",
                        help="also write the comparison as one self-contained HTML page "
                             "(outside both builds)")
    parser.add_argument("--window-tolerance-us", type=int, default=0, metavar="N",
                        help="a worst window counts as longer only when it grew by more than "
                             "N µs (default 0: any growth)")


def _check_html(path, builds):
    """Refuse an --html path inside either build (it would make that build fail to
    verify) or one that cannot be written, before anything is compared."""
    from pathlib import Path

    from ksaudit.errors import KsauditError
    from ksaudit.exports.output import check_target

    target = Path(path).resolve()
    for build in builds:
        root = Path(build).resolve()
        if target == root or root in target.parents:
            raise KsauditError(f"--html {path}: must lie outside the compared build {build}")
    check_target(path, "--html")


def run(args):
    from ksaudit.errors import KsauditError
    from ksaudit.report.compare import compare_builds, html_page, text_lines

    if args.window_tolerance_us < 0:
        raise KsauditError(f"--window-tolerance-us {args.window_tolerance_us}: must be at least 0")
    if args.html:
        _check_html(args.html, (args.reports_a, args.reports_b))
    comparison = compare_builds(args.reports_a, args.reports_b, args.window_tolerance_us)
    print("\n".join(text_lines(comparison)))
    if args.html:
        from ksaudit.exports.output import atomic_output

        with atomic_output(args.html) as fh:
            fh.write(html_page(comparison).encode("utf-8"))
    return comparison.exit_code
