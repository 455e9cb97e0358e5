"""``ksaudit record``: record a kill-switch test on this Linux host as a scenario directory."""

from ksaudit.oslogs.registry import formats
from ksaudit.record import host
from ksaudit.record.options import (MAX_DURATION_S, MAX_STEADY_S, MAX_TRIALS, RecordOptions,
                                    parse_log)
from ksaudit.record.recorder import record
from ksaudit.scenario import SCENARIOS

EXIT_INCOMPLETE, EXIT_INTERRUPTED = 3, 130


def add_arguments(parser):
    parser.description = ("Record a kill-switch test on this Linux host with its real VPN client "
                          "(root): tcpdump -i any, probes to your own sink, the event, the journal "
                          "and named logs; writes the scenario directory `ksaudit analyze` reads. "
                          "Exit 0 written, 3 written but incomplete, 130 interrupted (written, "
                          "incomplete), 2 bad option (nothing started).")
    a = parser.add_argument
    a("-o", "--output", required=True, metavar="DIR",
      help="scenario directory to create (must not exist or be empty), e.g. captures/<build>/<scenario>")
    a("--build", required=True, help="build under test (scenario.yaml build)")
    a("--probe-target", action="append", default=[], required=True, metavar="ADDR:PORT",
      help="your own sink for the probes, an IP address ([v6]:port); repeatable; no default")
    a("--vpn-endpoint", action="append", default=[], required=True, metavar="ADDR:PORT/PROTO",
      help="the VPN server, e.g. 198.51.100.2:51820/udp (repeatable)")
    a("--tunnel-interface", action="append", default=[], metavar="IF",
      help="the VPN's tunnel interface, e.g. wg0 (repeatable)")
    a("--discover-tunnel", action="store_true",
      help="take the tunnel interfaces from ip -d link (WireGuard, tun, xfrm/vti, PPP links)")
    a("--physical-interface", action="append", default=[], metavar="IF",
      help="interfaces outside the tunnel (default: every other non-loopback link)")
    a("--vpn-process", action="append", default=[], metavar="NAME",
      help="the client's process or unit (vpn.processes; repeatable)")
    ev = parser.add_mutually_exclusive_group(required=True)
    ev.add_argument("--event-cmd", metavar="CMD",
                    help="shell command that causes the event and returns when the tunnel is back")
    ev.add_argument("--manual", action="store_true",
                    help="prompt: cause the event yourself, press Enter when the tunnel is back")
    a("--event-marks-tunnel", action="store_true",
      help="the event takes the tunnel down when it starts and it is back when the command "
           "returns (or at Enter): the recorder's own lines then mark the episode (rules in "
           "scenario.yaml); without it they are timeline anchors and the tunnel-down evidence "
           "must come from the journal or --log files")
    a("--trials", type=int, default=RecordOptions.trials,
      help=f"events in one run, 1..{MAX_TRIALS} (default %(default)s)")
    a("--steady-s", type=float, default=RecordOptions.steady_s,
      help=f"steady state before the first event and after each, 0.5..{MAX_STEADY_S:g} s "
           "(default %(default)g)")
    a("--duration", type=float, default=RecordOptions.duration_s, metavar="S",
      help=f"upper bound on the whole run, 1..{MAX_DURATION_S:g} s (default %(default)g); "
           "reaching it ends the run, marked incomplete")
    a("--probe-interval-ms", type=float, default=RecordOptions.probe_interval_ms,
      help="a probe every N ms, 1..1000 (default %(default)g)")
    a("--log", action="append", default=[], metavar="FILE[:FORMAT]",
      help="a log file to copy into logs/ at the end (format auto unless given; repeatable)")
    a("--log-timezone", default=None, metavar="TZ",
      help="zone of --log files whose lines carry none (default: this host's)")
    a("--journal-unit", action="append", default=[], metavar="UNIT",
      help="collect only these units' journal lines (journalctl -u; repeatable)")
    a("--journal-identifier", action="append", default=[], metavar="ID",
      help="collect only these syslog identifiers (journalctl -t; repeatable)")
    a("--scenario", default=RecordOptions.scenario, choices=SCENARIOS,
      help="scenario kind (default %(default)s)")
    a("--description", help="scenario.yaml description")
    a("--allow-lan", action="store_true", help="policy.allow_lan: LAN traffic is allowed")
    a("--buffer-kib", type=int, default=RecordOptions.buffer_kib,
      help="tcpdump -B (default %(default)s KiB)")


def run(args):
    known = formats()
    opts = RecordOptions(
        out=args.output, build=args.build, probe_targets=tuple(args.probe_target),
        endpoints=tuple(args.vpn_endpoint), tunnel_interfaces=tuple(args.tunnel_interface),
        discover_tunnel=args.discover_tunnel, physical_interfaces=tuple(args.physical_interface),
        processes=tuple(args.vpn_process), event_cmd=args.event_cmd, manual=args.manual,
        event_marks_tunnel=args.event_marks_tunnel,
        trials=args.trials, steady_s=args.steady_s, duration_s=args.duration,
        probe_interval_ms=args.probe_interval_ms,
        logs=tuple(parse_log(text, known) for text in args.log),
        log_timezone=args.log_timezone or host.local_timezone(),
        journal_units=tuple(args.journal_unit), journal_identifiers=tuple(args.journal_identifier),
        scenario=args.scenario, description=args.description, allow_lan=args.allow_lan,
        buffer_kib=args.buffer_kib)
    result = record(opts)
    print(f"{result.out}: {result.trials} of {opts.trials} trial(s) recorded"
          + (f"; INCOMPLETE: {result.incomplete_reason}" if result.incomplete_reason else ""))
    for note in result.notes:
        print(f"  note: {note}")
    if result.interrupted:
        return EXIT_INTERRUPTED
    return 0 if result.incomplete_reason is None else EXIT_INCOMPLETE
