"""`ksaudit verify reports/<build> [--captures CAPTURES/<build>]`: exit 0 when every
hash matches, 1 naming each changed, missing or unlisted file, 2 on bad usage."""


def add_arguments(parser):
    parser.add_argument("reports", metavar="reports/<build>", help="a build rendered by `ksaudit render`")
    parser.add_argument("--captures", metavar="CAPTURES/<build>",
                        help="also re-hash the evidence against the hashes recorded in summary.json")


def run(args):
    from ksaudit.report.verify import verify_build

    checked, problems = verify_build(args.reports, args.captures)
    for p in problems:
        print(f"{p.kind}: {p.path}" + (f" ({p.detail})" if p.detail else ""))
    if problems:
        print(f"verify: {len(problems)} of {checked} recorded files do not match")
        return 1
    print(f"verify: OK, {checked} files match their recorded SHA-256")
    return 0
