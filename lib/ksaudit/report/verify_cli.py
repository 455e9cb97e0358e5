"""`ksaudit verify reports/<build> [--captures CAPTURES/<build>] [--key KEY.pub]`: exit 0
when the build is whole and every hash (and the signature, with --key) matches, 1 naming
each changed, missing or unlisted file, 2 on bad usage.  docs/verify.md says what it proves."""


def add_arguments(parser):
    parser.add_argument("reports", metavar="reports/<build>", help="a build rendered by `ksaudit render`")
    parser.add_argument("--captures", metavar="CAPTURES/<build>",
                        help="also check the evidence: the same scenarios and files, with the "
                             "hashes recorded in summary.json")
    parser.add_argument("--key", metavar="KEY.pub",
                        help="the signer's OpenSSH public key: SHA256SUMS.sig must be its "
                             "signature of SHA256SUMS (render --sign)")


def run(args):
    from ksaudit.report.verify import verify_build
    from ksaudit.safeio import shown

    result = verify_build(args.reports, args.captures, key=args.key)
    for p in result.problems:
        print(f"{p.kind}: {shown(p.path)}" + (f" ({' '.join(p.detail.split())})" if p.detail else ""))
    if result.problems:
        print(f"verify: {len(result.problems)} problem(s); {result.checked} files hashed")
        return 1
    signature = {"good": ", and SHA256SUMS.sig is a good signature by the key given",
                 "unchecked": "; SHA256SUMS.sig present but not checked (give --key)",
                 "none": "; not signed"}[result.signature]
    scope = "build and evidence" if args.captures else "build"
    print(f"verify: OK, {result.checked} files match their recorded SHA-256, nothing in the "
          f"{scope} is missing or added{signature}")
    return 0
