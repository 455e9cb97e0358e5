"""``ksaudit lab``: run the kill-switch lab, clean up leftovers, regenerate the samples."""

import os
import re

from ksaudit.errors import KsauditError
from ksaudit.lab import EVENTS, POLICIES, clients


def add_arguments(parser):
    sub = parser.add_subparsers(dest="lab_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("run", help="run one scenario and write its directory",
                       description="Run one kill-switch scenario in network namespaces "
                                   "(root) and write the scenario directory.")
    p.add_argument("--event", required=True, choices=EVENTS)
    p.add_argument("--policy", required=True, choices=POLICIES,
                   help="the kill switch; 'client': the client's own protection instead of "
                        "ksaudit's nftables (wg-quick: its PostUp/PreDown REJECT recipe)")
    p.add_argument("--client", default=clients.DEFAULT, metavar="NAME|FILE",
                   help=f"the VPN client: {', '.join(clients.NAMES)} (default {clients.DEFAULT}: "
                        "the harness), or a client file (YAML; docs/lab.md \"Clients\")")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="scenario directory to create, e.g. captures/<build>/<scenario>")
    p.add_argument("--build", help="build name in scenario.yaml (default: DIR's parent name)")
    p.add_argument("--allow-lan", action="store_true",
                   help="LAN escape valve: LAN printer probes and a LAN DNS resolver")
    p.add_argument("--ipv6", action="store_true", help="IPv6 on the LAN and IPv6 probes")
    p.add_argument("--probe-interval-ms", type=float, default=10.0,
                   help="probe every N ms, 1..1000 (default 10)")
    p.add_argument("--no-probes", action="store_true",
                   help="attempt no traffic (an INCONCLUSIVE run: a silent device proves nothing)")
    p.add_argument("--trials", type=int, default=1, help="episodes of the event in one run, 1..20")
    p.add_argument("--down-ms", type=int, default=1000, help="how long the cause lasts")
    p.add_argument("--settle-ms", type=int, default=300,
                   help="client's wait after the network returns, before reconnecting")
    p.add_argument("--reconnect-gap-ms", type=int, default=500,
                   help="reconnect event: tunnel-down gap (weak-reconnect: firewall off)")
    p.add_argument("--steady-ms", type=int, default=400,
                   help="steady state before the first and after each episode")
    p.add_argument("--blocks-when-disconnected", choices=("yes", "no"), default="yes",
                   help="disconnect: whether the product promises to block while the user is "
                        "disconnected (scenario.yaml vpn.blocks_when_disconnected; default yes)")
    p.add_argument("--description", help="scenario.yaml description")
    p.add_argument("--rig", choices=("lab", "foreign"), default="lab",
                   help="whose harness writes the evidence: the lab's own (default), or "
                        "'foreign': another rig's file names, syslog wording, wireguard-go "
                        "daemonized with its banner, client stopped before the captures end, "
                        "scenario.yaml as a user writes it (docs/lab.md)")
    p.add_argument("--system-log", choices=("rfc3164", "short-iso-precise"), default="rfc3164",
                   help="--rig foreign: the syslog file's format (default rfc3164)")
    c = sub.add_parser("cleanup", help="remove every lab namespace, process and socket left behind")
    c.add_argument("--dry-run", action="store_true", help="only list what is left behind")
    c.add_argument("--run-id", help="only the leftovers of this run (6 hex digits)")
    s = sub.add_parser("samples", help="regenerate the bundled sample build",
                       description="Regenerate captures/samples/<build> with the lab (root).")
    s.add_argument("-o", "--output", metavar="DIR",
                   help="build directory (default: captures/samples/2026.11.0-lab of this checkout)")
    s.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                   help="regenerate only this scenario (repeatable)")
    s.add_argument("--rig", choices=("lab", "foreign"), default="lab",
                   help="which sample build: the lab's (default) or the foreign rig's "
                        "(captures/samples/2026.12.0-rig-b)")


def run(args):
    if args.lab_command == "cleanup":
        return _cleanup(args)
    if args.lab_command == "samples":
        from ksaudit.lab import samples
        if args.rig == "foreign":
            return samples.regenerate(args.output or samples.FOREIGN_DIR, only=args.only,
                                      samples=samples.FOREIGN_SAMPLES)
        return samples.regenerate(args.output or samples.DEFAULT_DIR, only=args.only)
    from ksaudit.lab import events, runner
    timing = events.Timing(down_ms=args.down_ms, settle_ms=args.settle_ms,
                           reconnect_gap_ms=args.reconnect_gap_ms)
    opts = runner.RunOptions(event=args.event, policy=args.policy, out=args.output, build=args.build,
                             allow_lan=args.allow_lan, ipv6=args.ipv6, probes=not args.no_probes,
                             probe_interval_ms=args.probe_interval_ms, trials=args.trials,
                             timing=timing, steady_ms=args.steady_ms, description=args.description,
                             rig=args.rig, system_log=args.system_log, client=args.client,
                             blocks_when_disconnected=args.blocks_when_disconnected == "yes")
    result = runner.run(opts)
    t = result.truth
    leaked = sum(tr["leaked_probes"] for tr in t["trials"])
    who = "" if args.client == clients.DEFAULT else f"client {args.client}, "
    print(f"{result.out}: {who}{t['policy']} / {t['event']}, {t['trial_count']} trial(s), "
          f"{leaked} probe(s) reached the sink outside the tunnel; expected verdict "
          f"{result.expected_verdict}")
    return 0


def _cleanup(args):
    from ksaudit.lab import topology
    if not args.dry_run and os.geteuid() != 0:
        raise KsauditError("lab cleanup: needs root to remove namespaces (--dry-run only lists them)")
    if args.run_id is not None and not re.fullmatch(r"[0-9a-f]{6}", args.run_id):
        raise KsauditError(f"lab cleanup: --run-id must be 6 hex digits, got {args.run_id!r}")
    found = (topology.leftovers(args.run_id) if args.dry_run
             else topology.cleanup_all(args.run_id))
    verb = "left behind" if args.dry_run else "removed"
    if not any(found.values()):
        print("lab: nothing left behind")
    for kind in ("namespaces", "sockets", "workdirs", "partial_outputs"):
        for name in found.get(kind, []):
            print(f"{verb}: {kind[:-1]} {name}")
    return 0
