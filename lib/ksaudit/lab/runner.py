"""One lab run: topology up, tunnel up, captures and probes on, N episodes of the event,
everything stopped and removed, the scenario directory written.

The directory is assembled under ``<out>.partial-<id>`` and renamed into place only when
complete, so a failed or interrupted run never leaves half-written evidence.
"""

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import yaml

from ksaudit.errors import KsauditError
from ksaudit.lab import clients, events as ev, foreign, topology as topo, truth
from ksaudit.lab.capture import Capture
from ksaudit.lab.clients.base import Context, TunnelNotBack
from ksaudit.lab.daemon import set_subreaper
from ksaudit.lab.foreign_log import STYLES, ForeignLog
from ksaudit.lab.journal import Journal
from ksaudit.lab.procs import Procs, python_env, wait_for

PROBE_START_TIMEOUT_S = 10.0
RIGS = ("lab", "foreign")     # whose harness writes the evidence (docs/lab.md "Another rig")


class LabInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a run: unwinds like Ctrl-C so every ``finally`` cleans up."""


_UNWIND_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class RunOptions:
    """What to run.  Times in ms; ``out`` is the scenario directory to create."""

    event: str
    policy: str
    out: str
    build: str | None = None
    allow_lan: bool = False
    ipv6: bool = False
    probes: bool = True
    probe_interval_ms: float = 10.0
    trials: int = 1
    timing: ev.Timing = field(default_factory=ev.Timing)
    steady_ms: int = 400           # steady state before the first and after each episode
    description: str | None = None
    rig: str = "lab"               # "foreign": another harness's files, words and ending
    system_log: str = "rfc3164"    # the foreign rig's syslog file format (foreign_log.STYLES)
    client: str = clients.DEFAULT  # a client name (clients.NAMES) or a client file's path
    blocks_when_disconnected: bool = True   # disconnect: the product's promise (scenario.yaml)


@dataclass(frozen=True)
class RunResult:
    out: str
    expected_verdict: str
    truth: dict


def _unwind(signum, frame):
    raise LabInterrupted()


MAX_PHASE_MS = 60_000        # longest --down-ms / --settle-ms / --reconnect-gap-ms / --steady-ms


def _check(opts):
    """Every option a user can get wrong, as one-line KsauditErrors (before anything is made)."""
    if opts.rig not in RIGS:
        raise KsauditError(f"lab: unknown rig {opts.rig!r} (one of {', '.join(RIGS)})")
    if opts.system_log not in STYLES:
        raise KsauditError(f"lab: --system-log must be one of {', '.join(STYLES)}, got {opts.system_log!r}")
    if opts.event not in ev.EVENTS:
        raise KsauditError(f"lab: unknown event {opts.event!r} (one of {', '.join(ev.EVENTS)})")
    from ksaudit.lab import POLICIES
    if opts.policy not in POLICIES:
        raise KsauditError(f"lab: unknown policy {opts.policy!r}")
    clients.check(opts.client, opts.policy)
    if opts.rig == "foreign" and opts.client != clients.DEFAULT:
        raise KsauditError(f"lab: --rig foreign runs the {clients.DEFAULT} harness only, "
                           f"not --client {opts.client}")
    if not 1 <= opts.trials <= 20:
        raise KsauditError(f"lab: --trials must be 1..20, got {opts.trials}")
    if opts.event in ev.ONCE and opts.trials != 1:
        raise KsauditError(f"lab: {opts.event} happens once per run (--trials 1), got {opts.trials}")
    if not 1 <= opts.probe_interval_ms <= 1000:
        raise KsauditError(f"lab: --probe-interval-ms must be 1..1000, got {opts.probe_interval_ms}")
    phases = {**opts.timing.__dict__, "steady_ms": opts.steady_ms}
    for name, ms in phases.items():
        if not 0 <= ms <= MAX_PHASE_MS:
            raise KsauditError(f"lab: --{name.replace('_', '-')} must be 0..{MAX_PHASE_MS}, got {ms}")
    if opts.event == "network-change" and opts.timing.settle_ms > opts.timing.down_ms:
        raise KsauditError("lab: --settle-ms must not exceed --down-ms for network-change")
    check_output_dir(opts.out, "lab")
    build = _build_name(opts)
    if not build.strip() or "/" in build or not build.isprintable():
        raise KsauditError(f"lab: build name {build!r} must be a non-empty printable name without '/' "
                           "(give --build, or -o captures/<build>/<scenario>)")


def check_output_dir(path, who):
    """A scenario directory to create: it must not exist or be an empty directory (evidence
    is never overwritten) under a writable parent; `who` prefixes the one-line error."""
    out = os.path.abspath(path)
    if os.path.exists(out) and not os.path.isdir(out):
        raise KsauditError(f"{who}: {path} exists and is not a directory")
    if os.path.isdir(out) and os.listdir(out):
        raise KsauditError(f"{who}: {path} exists and is not empty (evidence is never overwritten)")
    parent = os.path.dirname(out)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise KsauditError(f"{who}: cannot create {path}: {parent} is not a writable directory")


def _build_name(opts):
    """--build, else the output directory's parent name (captures/<build>/<scenario>)."""
    return opts.build if opts.build is not None else os.path.basename(os.path.dirname(os.path.abspath(opts.out)))


def _max_run_s(opts):
    """A bound on the run's length: the probe generator and the sink stop on their own then."""
    t = opts.timing
    per_trial_ms = t.down_ms + t.settle_ms + t.reconnect_gap_ms + 6 * t.flap_ms + opts.steady_ms
    return 120 + opts.trials * (per_trial_ms / 1000 + 30) + opts.steady_ms / 1000


def run(opts):
    """Run one scenario and write its directory.

    Parameters: opts (RunOptions).
    Returns: RunResult (path, expected verdict, the truth document).
    Raises: KsauditError when the lab cannot run or a step fails; everything the run
    created (namespaces, veths, processes, sockets, the partial directory) is removed.
    """
    _check(opts)
    topo.check_can_run()
    out = os.path.abspath(opts.out)
    names = topo.new_names()
    partial = f"{out}.partial-{names.run_id}"
    work = None
    procs = Procs()
    main = threading.current_thread() is threading.main_thread()   # signals: main thread only
    old_handlers = {s: signal.signal(s, _unwind) for s in _UNWIND_SIGNALS} if main else {}
    # the foreign rig's wireguard-go and a real client's daemons fork away: be their reaper so
    # they are stopped and reaped by PID
    reaper = (opts.rig == "foreign" or opts.client != clients.DEFAULT) and set_subreaper(True)
    ok = False
    try:
        try:
            os.makedirs(os.path.join(partial, "logs"))
            work = tempfile.mkdtemp(prefix=f"{topo.PREFIX}{names.run_id}-")
            with open(os.path.join(work, topo.PARTIAL_NOTE), "w") as fh:   # for `lab cleanup` after SIGKILL
                fh.write(partial + "\n")
        except OSError as exc:
            raise KsauditError(f"lab: cannot create {exc.filename}: {exc.strerror}")
        doc, scenario = _run_inside(opts, names, procs, partial, work)
        with open(os.path.join(partial, "scenario.yaml"), "w") as fh:
            # a user writes block style (the lab's own files stay as they were)
            yaml.safe_dump(scenario, fh, sort_keys=False, width=1000,
                           default_flow_style=False if opts.rig == "foreign" else None)
        truth.write(doc, os.path.join(partial, "lab-truth.json"))
        if os.path.isdir(out):
            os.rmdir(out)
        os.rename(partial, out)
        ok = True
        return RunResult(out, doc["expected_verdict"], doc)
    finally:
        # a second Ctrl-C / SIGTERM / SIGHUP must not cut the cleanup short
        if main:
            old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            for s in _UNWIND_SIGNALS:
                signal.signal(s, signal.SIG_IGN)
        try:
            procs.stop_all()
            topo.destroy(names)
        finally:
            if main:
                signal.signal(signal.SIGINT, old_int)
                for s, handler in old_handlers.items():
                    signal.signal(s, handler)
        if reaper:
            set_subreaper(False)
        if work:
            shutil.rmtree(work, ignore_errors=True)
        if not ok:
            shutil.rmtree(partial, ignore_errors=True)


def _run_inside(opts, names, procs, partial, work):
    started_ns = time.time_ns()
    second_lan = opts.event == "network-change"    # the device moves to another LAN
    topo.create(names, ipv6=opts.ipv6, second_lan=second_lan, uplink=opts.event != "boot")
    other = opts.rig == "foreign"
    files = ((foreign.DEVICE_PCAP, foreign.EXTERNAL_PCAP) if other else ("device.pcap", "external.pcap"))
    # the external capture: the LAN, or with a second LAN the mirror port of both
    ext_if = topo.SPAN_IF if second_lan else "lan0"
    if other:
        journal = ForeignLog(os.path.join(partial, foreign.SYSTEM_LOGS[opts.system_log]), os.getpid(),
                             style=opts.system_log, tz=foreign.TIMEZONE)
    else:
        journal = Journal(os.path.join(partial, "logs", "journal.json"), os.getpid())
    teardown = []
    client = None
    try:
        client = clients.make(opts.client, Context(
            names, procs, journal, opts.policy, opts.allow_lan, opts.ipv6, work,
            detached=other, tz=foreign.TIMEZONE if other else "UTC"))
        client.start_server()
        _start_sink(procs, names, work, _max_run_s(opts))
        # the client connects: strong loads its firewall before the tunnel exists (at boot,
        # before the network comes up; the boot event connects)
        if opts.policy == "strong":
            client.engage_firewall("loaded before connecting")
        if opts.event != "boot":
            client.connect("connected")
        if not client.firewall_on and opts.event != "boot":
            client.engage_firewall("tunnel up")
        setup_changes = list(client.changes)
        probe_log = os.path.join(partial, "logs", "probes.jsonl")
        if opts.probes:
            _start_probes(procs, names, opts, client, probe_log)
        # captures start in steady state (tunnel up, probes flowing), like a tester's would
        # (boot: before the network is up); the external ones first: a tcpdump starting up
        # can stall the probe generator for tens of ms on a loaded 2-core machine, which the
        # device capture would show as a gap in tunnel traffic (a packet-only episode) if
        # it were already running
        ext = Capture(procs, "cap-external", names.rtr, ext_if, os.path.join(partial, files[1]),
                      os.path.join(work, "tcpdump-ext.err"), nano=not other)
        caps = [Capture(procs, "cap-device", names.dev, "any", os.path.join(partial, files[0]),
                        os.path.join(work, "tcpdump-device.err"), nano=not other), ext]
        # a client log of 1 s stamps: its first episode's start band reaches back a second
        # (also the harness's, when the event makes wireguard-go log the start: disconnect)
        time.sleep(max(opts.steady_ms, client.lead_in_ms, ev.LEAD_IN_MS.get(opts.event, 0)) / 1000)
        trials = []
        fn = ev.EVENTS[opts.event]
        for _ in range(opts.trials):
            first = len(client.changes)
            try:
                down, restored = fn(client, opts.timing)
            except TunnelNotBack:
                # a real client that does not recover: this trial, unrestored, is the last
                down, restored = client.changes[first]["ts_ns"], None
            trials.append({"down_ns": down, "restored_ns": restored,
                           "changes": client.changes[first:]})
            time.sleep(opts.steady_ms / 1000)
            if restored is None:
                break
        procs.stop("probe")
        time.sleep(0.1)                         # in-flight datagrams reach the sink
        if other:
            # a real run's ending: probes stop, then the client is stopped while the
            # captures still run; its whole log, shutdown lines included
            time.sleep(foreign.STOP_PAUSE_S)
            first = len(client.changes)
            client.disconnect()
            teardown = client.changes[first:]
            time.sleep(foreign.CAPTURE_TAIL_S)
            client.wg_log.flush()
            shutil.copy(client.wg_log_path, os.path.join(partial, foreign.WG_LOG))
        else:
            # the evidence ends with the captures: the client's logs as they stood then
            client_logs = client.collect_logs(partial)
        captures = []
        for cap, fname, vantage in zip(caps, files, ("device", "external")):
            captured, dropped = cap.stop()
            captures.append({"file": fname, "vantage": vantage, "captured": captured, "dropped": dropped})
        procs.stop("sink")
        links = client.snapshot_links()
    finally:
        if client:
            procs.stop_all()            # a real client's log readers end with its processes
            client.close()
        journal.close()
    with open(os.path.join(partial, "ip-link.json"), "w") as fh:
        json.dump(links, fh, indent=1)
        fh.write("\n")
    sink_records = truth.read_jsonl(os.path.join(work, "sink.jsonl"))
    shutil.copy(os.path.join(work, "sink.jsonl"), os.path.join(partial, "lab-sink.jsonl"))
    probe_records = truth.read_jsonl(probe_log)
    build = _build_name(opts)
    scenario_name = os.path.basename(os.path.abspath(opts.out))
    meta = {"build": build, "scenario": scenario_name, "policy": opts.policy, "event": opts.event,
            "allow_lan": opts.allow_lan, "ipv6": opts.ipv6, "probes": opts.probes,
            "probe_interval_ms": opts.probe_interval_ms,
            "timing": {**opts.timing.__dict__, "steady_ms": opts.steady_ms},
            "run_id": names.run_id, "started_ns": started_ns, "ended_ns": time.time_ns(),
            "rig": opts.rig, "teardown_changes": teardown, "client": client.name,
            "blocks_when_disconnected": (opts.blocks_when_disconnected
                                         if opts.event == "disconnect" else None)}
    doc = truth.build(meta, trials, setup_changes, sink_records, probe_records,
                      [{k: c[k] for k in ("file", "vantage", "dropped")} for c in captures])
    addresses = sorted({c["detail"].split()[-1] for c in client.changes
                        if c["change"] in ("link_up", "address_changed")} | {topo.DEV_ADDR})
    if opts.ipv6:
        addresses += [topo.DEV6_ADDR] + ([topo.DEV2_6_ADDR] if second_lan else [])
    scenario = (foreign.scenario_yaml(opts, build, names, client, started_ns) if other
                else _scenario_yaml(opts, build, names, client, captures, addresses, client_logs))
    return doc, scenario


def _scenario_yaml(opts, build, names, client, captures, addresses, client_logs):
    desc = opts.description or (ev.DESCRIPTIONS[opts.event].format(process=client.process_name,
                                                                  **opts.timing.__dict__)
                                + (f"; client {client.name}" if client.name != clients.DEFAULT else "")
                                + f"; policy {opts.policy}"
                                + (f" ({client.protection})" if opts.policy == "client" else "")
                                + (", LAN allowed" if opts.allow_lan else "")
                                + (", IPv6" if opts.ipv6 else "")
                                + (f", {opts.trials} trials" if opts.trials > 1 else "")
                                + ("" if opts.probes else ", no traffic generator"))
    logs = [{"file": "logs/journal.json", "format": "journald-json", "clock": "device", "timezone": "UTC"},
            *client_logs]
    if opts.probes:
        logs.append({"file": "logs/probes.jsonl", "format": "ksaudit-probe", "clock": "device",
                     "timezone": "UTC"})
    return {
        "build": build,
        "platform": "linux",
        "scenario": ev.SCENARIO_KIND[opts.event],
        "description": desc,
        "device": {"tunnel_interfaces": [client.ifname],
                   "physical_interfaces": ["wlan0", "eth0"] if opts.event == "network-change"
                   else ["wlan0"],
                   "addresses": addresses,
                   "ifindex": dict(sorted(client.ifindex.items()))},
        "vpn": {"endpoints": [client.endpoint_spec],
                **({"processes": client.processes} if client.processes else {}),
                **({"blocks_when_disconnected": opts.blocks_when_disconnected}
                   if opts.event == "disconnect" else {})},
        "policy": {"allow_lan": opts.allow_lan, "allow": [], "tolerance_us": 1000},
        "captures": [{"file": c["file"], "vantage": c["vantage"], "clock": "device",
                      "dropped": c["dropped"]} for c in captures],
        "logs": logs,
        "clocks": {"device": {"offset_ns": 0}},
    }


def _start_sink(procs, names, work, max_s):
    ready = os.path.join(work, "sink.ready")
    listen = [f"udp:{topo.SINK_ADDR}:{topo.SINK_PORT}", f"udp:{topo.PRINTER_ADDR}:{topo.PRINTER_PORT}",
              f"dns:{topo.LAN_RESOLVER}:53", f"dns:{topo.TUNNEL_RESOLVER}:53"]
    if os.path.exists(f"/var/run/netns/{names.rtr}") and _has_v6(names):
        listen.append(f"udp:[{topo.SINK6_ADDR}]:{topo.SINK_PORT}")
    argv = [sys.executable, "-m", "ksaudit.lab.sink", "--out", os.path.join(work, "sink.jsonl"),
            "--ready-file", ready, "--max-s", str(round(max_s))] + [a for spec in listen for a in ("--listen", spec)]
    err = open(os.path.join(work, "sink.err"), "w")
    proc = procs.start("sink", argv, ns=names.rtr, stderr=err, env=python_env())
    wait_for(lambda: os.path.exists(ready) or proc.poll() is not None, 10.0, "the sink to bind")
    if proc.poll() is not None:
        raise KsauditError(f"lab: sink exited at start: {open(err.name).read()[-300:]}")


def _has_v6(names):
    return topo.SINK6_ADDR in topo.ipn(names.rtr, "-6", "addr", "show", "dev", "lo")


def _start_probes(procs, names, opts, client, probe_log):
    argv = [sys.executable, "-m", "ksaudit.lab.probe", "--log", probe_log,
            "--interval-ms", str(opts.probe_interval_ms), "--max-s", str(round(_max_run_s(opts))),
            "--dst", f"{topo.SINK_ADDR}:{topo.SINK_PORT}"]
    if opts.ipv6:
        argv += ["--dst", f"[{topo.SINK6_ADDR}]:{topo.SINK_PORT}"]
    if opts.allow_lan:
        argv += ["--lan-dst", f"{topo.PRINTER_ADDR}:{topo.PRINTER_PORT}",
                 "--dns-resolver-file", client.resolver_file]
    proc = procs.start("probe", argv, ns=names.dev, env=python_env())

    def started():
        return proc.poll() is not None or (os.path.exists(probe_log) and os.path.getsize(probe_log) > 0)

    wait_for(started, PROBE_START_TIMEOUT_S, "the probe generator's first probe")
    if proc.poll() is not None:
        raise KsauditError(f"lab: probe generator exited at start with {proc.returncode}")


_py_env = python_env          # tests/lab import it under this name
