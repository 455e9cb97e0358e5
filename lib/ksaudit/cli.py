"""The `ksaudit` command line: one sub-command per stage, each in its own module.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Exit codes: 0 pass/success, 1 leak found (FAIL), 2 bad input or usage,
3 INCONCLUSIVE.  User errors are one line on stderr, never a traceback.
"""

import argparse
import os
import sys
from importlib import import_module

from ksaudit import __version__
from ksaudit.errors import KsauditError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3

COMMANDS = {
    "packets": ("ksaudit.pcap.cli", "read a capture into the packet table"),
    "events": ("ksaudit.oslogs.cli", "read OS/VPN/probe logs into the event table"),
    "analyze": ("ksaudit.leaks.cli", "analyse a scenario directory: episodes, leaks, verdict"),
    "render": ("ksaudit.report.render_cli", "render the verification reports of a build"),
    "verify": ("ksaudit.report.verify_cli", "re-check the SHA-256 of a rendered build"),
    "lab": ("ksaudit.lab.cli", "run the network-namespace kill-switch lab"),
    "record": ("ksaudit.record.cli", "record a scenario directory on a real Linux host"),
    "annotate": ("ksaudit.exports.annotate_cli", "copy a scenario's captures as pcapng with leak comments"),
    "timeline": ("ksaudit.exports.timeline_cli", "write a scenario's timeline (Timesketch JSONL or CSV)"),
    "compare": ("ksaudit.report.compare_cli", "compare two rendered builds; non-zero when one got worse"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"ksaudit: error: {message}\n")


def build_parser(argv):
    parser = _Parser(prog="ksaudit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ksaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    # Only the chosen command's module is imported: keeps `--help` and startup fast.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            mod = import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv).parse_args(argv)
        return int(args._run(args) or 0)
    except KsauditError as exc:
        print(f"ksaudit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ksaudit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an internal error is never a verdict
        if os.environ.get("KSAUDIT_DEBUG"):
            raise
        print(f"ksaudit: internal error: {type(exc).__name__}: {exc} "
              "(set KSAUDIT_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
