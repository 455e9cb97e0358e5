"""`ksaudit annotate SCENARIO -o DIR`: pcapng copies of the captures with leak comments.

Wireshark / tshark: ``frame.comment contains "ksaudit leak"`` shows the leaked frames and
replies, ``frame.comment contains "ksaudit episode"`` the frames that fix episode
boundaries.  The evidence is not modified.  Exit code 0, or 2 on bad input.
"""


def add_arguments(parser):
    parser.epilog = ("filters: frame.comment contains \"ksaudit leak\" (leaked frames and "
                     "replies), frame.comment contains \"ksaudit episode\" (episode boundaries)")
    parser.add_argument("scenario_dir", metavar="SCENARIO", help="scenario directory (holds scenario.yaml)")
    parser.add_argument("-o", "--out", metavar="DIR", required=True,
                        help="directory for the annotated pcapng files (outside the scenario)")


def run(args) -> int:
    from ksaudit.exports.annotate import annotate_scenario
    from ksaudit.safeio import shown

    for file, result in annotate_scenario(args.scenario_dir, args.out):
        if result is None:
            print(f"{shown(file)}: missing, not annotated")
            continue
        print(f"{shown(file)} ({result.input_format}) -> {shown(result.path)}: {result.frames} "
              f"frames, {result.commented} commented")
        for note in result.notes:
            print(f"  note: {note}")
    return 0
