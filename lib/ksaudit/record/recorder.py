"""One recording on a real Linux host: the capture, the probes, the event (a command or
the tester at the keyboard), then the journal and named logs, the scenario directory.

Everything is assembled in ``<out>.partial-<id>`` and renamed into place at the end.
Ctrl-C, SIGTERM or SIGHUP at any time stops what the recorder started (by PID; the
event command by its process group), and what was gathered is still written, with
``incomplete: true`` and the reason in scenario.yaml, so analyze can say no more than
INCONCLUSIVE (or FAIL on a leak it saw).  Reaching ``--duration`` or stdin closing
before Enter ends the run the same way.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass

import yaml

from ksaudit import __version__
from ksaudit.errors import KsauditError
from ksaudit.lab.capture import Capture
from ksaudit.lab.journal import Journal, now
from ksaudit.lab.procs import Procs, python_env, wait_for
from ksaudit.record import collect, host
from ksaudit.record.options import check

RECORD_ID = "ksaudit-record"       # SYSLOG_IDENTIFIER of the recorder's own log lines
PCAP = "device.pcap"
PROBE_LOG, RECORD_LOG = "logs/probes.jsonl", "logs/record.json"
PROBE_START_TIMEOUT_S = 10.0
_UNWIND_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# --event-marks-tunnel: the tester's claim that the event's start and end are the tunnel's.
# Only a command that succeeded ends an episode: after a failed one nothing says the
# tunnel is back, so the episode stays open (fail closed).
EVENT_RULES = (
    {"name": "record-event-start", "kind": "tunnel_down", "identifier": RECORD_ID,
     "regex": r"^trial \d+: (?:event command started|tester asked to cause the event)"},
    {"name": "record-event-end", "kind": "tunnel_up", "identifier": RECORD_ID,
     "regex": r"^trial \d+: (?:event command ended \(exit status 0\)|tester pressed Enter)"},
)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP (its name in ``args[0]``): unwinds the run, and the
    evidence is still written."""


class _Cut(Exception):
    """The run cannot go on as asked (duration reached, stdin closed): write what there is."""


@dataclass(frozen=True)
class RecordResult:
    out: str
    trials: int                      # events completed
    incomplete_reason: str | None
    interrupted: bool                # by Ctrl-C, SIGTERM or SIGHUP
    notes: tuple


def record(opts, stdin=None):
    """Record one scenario directory on this host.

    Parameters
    ----------
    opts : RecordOptions
    stdin : file, optional
        Where ``--manual`` reads Enter (default ``sys.stdin``).

    Returns
    -------
    RecordResult
        The directory written and, when it was cut short, why.  Raises `KsauditError`
        for a bad option or a host that cannot record, before anything is started.
    """
    check(opts)
    host.check_can_record()
    start = host.snapshot("start")
    tunnels = _tunnels(opts, start["links"])
    out = os.path.abspath(opts.out)
    run = _Run(opts, f"{out}.partial-{secrets.token_hex(3)}", tunnels, start, stdin or sys.stdin)
    main = threading.current_thread() is threading.main_thread()   # signals: main thread only
    # a signal ignored when we start (nohup, a background job's SIGINT) stays ignored
    old = {s: signal.signal(s, run.on_signal) for s in _UNWIND_SIGNALS
           if main and signal.getsignal(s) is not signal.SIG_IGN}
    error = None
    try:
        try:
            run.open()
            run.go()
        except KeyboardInterrupt:
            run.caught = run.caught or "SIGINT"       # finish() marks the run incomplete
        except _Cut as exc:
            run.cut(str(exc))
        except KsauditError as exc:
            error = exc
            run.cut(f"stopped by an error {run.where}: {exc}")
    finally:
        # a second Ctrl-C / SIGTERM / SIGHUP must not cut the writing short
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        try:
            if os.path.isdir(run.root):
                run.finish()
        finally:
            run.procs.stop_all()
            for s, handler in old.items():
                signal.signal(s, handler)
    if not os.path.isdir(run.root):               # stopped before anything was made
        raise error or Interrupted(run.caught)
    if os.path.isdir(out):
        os.rmdir(out)
    os.rename(run.root, out)
    if error is not None:
        raise KsauditError(f"{error} (what was recorded is in {opts.out}, marked incomplete)")
    return RecordResult(out, len(run.trials), run.incomplete, run.caught is not None, tuple(run.notes))


def _tunnels(opts, links):
    """The tunnel interfaces: as given (each must exist now), or discovered."""
    if opts.discover_tunnel:
        found = host.discover_tunnels(links)
        if not found:
            raise KsauditError("record: --discover-tunnel found no tunnel interface in ip link "
                               "(is the VPN connected? else give --tunnel-interface)")
        return found
    absent = host.missing_links(opts.tunnel_interfaces, links)
    if absent:
        raise KsauditError(f"record: tunnel interface {', '.join(absent)} not found in ip link "
                           "(connect the VPN before recording)")
    return list(opts.tunnel_interfaces)


class _Run:
    """The state of one recording, from the first probe to the scenario.yaml."""

    def __init__(self, opts, root, tunnels, start, stdin):
        self.opts, self.root, self.tunnels, self.stdin = opts, root, tunnels, stdin
        self.snapshots = [start]
        self.procs = Procs("record", die_with_parent=True)
        self.hostname = socket.gethostname()
        self.log = None              # the recorder's own log, once the directory exists
        self.deadline = time.monotonic() + opts.duration_s
        self.started_ns = time.time_ns()
        self.capture = None
        self.trials = []             # {trial, started_ns, ended_ns, exit_status}
        self.notes = []
        self.incomplete = None       # the reason, when cut short
        self.where = "before the capture started"
        self.caught = None           # the signal's name, once one came

    def on_signal(self, signum, frame):
        """Raise where the signal lands, and remember it: Python drops an exception raised
        inside a fork hook (a signal during subprocess.Popen), so `check` raises it again."""
        self.caught = signal.Signals(signum).name
        raise Interrupted(self.caught)

    def check(self):
        if self.caught:
            raise Interrupted(self.caught)

    def open(self):
        """The half-written directory and the recorder's own log in it."""
        try:
            os.makedirs(os.path.join(self.root, "logs"))
        except OSError as exc:
            raise KsauditError(f"record: cannot create {exc.filename}: {exc.strerror}") from None
        self.log = Journal(os.path.join(self.root, RECORD_LOG), os.getpid(), hostname=self.hostname)

    def say(self, message, at=None):
        """One line of the recorder's own log (journald JSON), stamped ``at`` or now."""
        if self.log is not None:
            self.log.write(*(at or now()), RECORD_ID, message, pid=os.getpid())

    def cut(self, reason):
        self.incomplete = reason

    # --- the run -----------------------------------------------------------------------
    def go(self):
        o = self.opts
        self.say(f"recording started: capture on any, probes every {o.probe_interval_ms:g} ms to "
                 f"{', '.join(o.probe_targets)}, {o.trials} trial(s)")
        self.capture = Capture(self.procs, "tcpdump", None, "any", os.path.join(self.root, PCAP),
                               os.path.join(self.root, "tcpdump.stderr"), buffer_kib=o.buffer_kib)
        self.check()
        self.where = "before the first probe"
        self._start_probes()
        self.check()
        self.notes += host.route_notes(o.probe_targets)
        for trial in range(1, o.trials + 1):
            self._wait(o.steady_s, f"the steady period before trial {trial}")
            self.where = f"during trial {trial}'s event"
            (self._manual if o.manual else self._command)(trial)
            self.check()
            self.snapshots.append(host.snapshot(f"after trial {trial}"))
        self._wait(o.steady_s, "the last steady period")
        self.where = "while stopping"
        self.check()

    def _wait(self, seconds, what):
        self.where = f"during {what}"
        self.check()
        end = time.monotonic() + seconds
        if end > self.deadline:
            time.sleep(max(0.0, self.deadline - time.monotonic()))
            raise _Cut(f"the run reached --duration ({self.opts.duration_s:g} s) during {what}")
        time.sleep(seconds)

    def _start_probes(self):
        o = self.opts
        path = os.path.join(self.root, PROBE_LOG)
        argv = [sys.executable, "-m", "ksaudit.lab.probe", "--log", path,
                "--interval-ms", str(o.probe_interval_ms), "--max-s", str(round(o.duration_s + 30))]
        for target in o.probe_targets:
            argv += ["--dst", target]
        proc = self.procs.start("probe", argv, env=python_env())
        wait_for(lambda: proc.poll() is not None or (os.path.exists(path) and os.path.getsize(path)),
                 PROBE_START_TIMEOUT_S, "the probe generator's first probe", who="record")
        if proc.poll() is not None:
            raise KsauditError(f"record: the probe generator exited at start with {proc.returncode}")

    def _command(self, trial):
        """Run --event-cmd (sh -c, own session, output to event-cmd.out) until it returns."""
        with open(os.path.join(self.root, "event-cmd.out"), "ab") as out:
            started = now()
            self.say(f"trial {trial}: event command started", at=started)
            proc = self.procs.start("event", ["/bin/sh", "-c", self.opts.event_cmd],
                                    stdout=out, stderr=out, group=True)
            while proc.poll() is None:
                self.check()
                if time.monotonic() >= self.deadline:
                    self.procs.stop("event")
                    self.say(f"trial {trial}: event command stopped at --duration")
                    raise _Cut(f"the event command of trial {trial} still ran when the run "
                               f"reached --duration ({self.opts.duration_s:g} s); it was stopped")
                time.sleep(0.005)
            ended = now()
        self.procs.forget("event")
        status = proc.returncode
        self.say(f"trial {trial}: event command ended (exit status {status}) after "
                 f"{(ended[0] - started[0]) / 1e9:.3f} s", at=ended)
        self.trials.append({"trial": trial, "started_ns": started[0], "ended_ns": ended[0],
                            "exit_status": status})
        if status:
            self.notes.append(f"trial {trial}: the event command exited with status {status} "
                              "(its output is in event-cmd.out)")

    def _manual(self, trial):
        """Ask the tester to cause the event; Enter on stdin says the tunnel is back."""
        started = now()
        self.say(f"trial {trial}: tester asked to cause the event", at=started)
        print(f"ksaudit record: trial {trial}/{self.opts.trials}: cause the event now, press Enter "
              "when the tunnel is back", file=sys.stderr, flush=True)
        self._read_enter(trial)
        ended = now()
        self.say(f"trial {trial}: tester pressed Enter (the tunnel is back)", at=ended)
        self.trials.append({"trial": trial, "started_ns": started[0], "ended_ns": ended[0],
                            "exit_status": None})

    def _read_enter(self, trial):
        fd = self.stdin.fileno()
        while True:
            self.check()
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise _Cut(f"no Enter in trial {trial} before the run reached --duration "
                           f"({self.opts.duration_s:g} s)")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not ready:
                continue
            data = os.read(fd, 4096)
            if not data:
                raise _Cut(f"stdin closed before Enter in trial {trial}")
            if b"\n" in data:
                return

    # --- the end -------------------------------------------------------------------------
    def finish(self):
        """Stop what runs, gather the logs and write scenario.yaml (also after a cut)."""
        if self.caught:
            self.incomplete = self.incomplete or f"interrupted by {self.caught} {self.where}"
        dropped = self._stop()
        ended_ns = time.time_ns()
        try:
            self.snapshots.append(host.snapshot("end"))
        except KsauditError as exc:
            self.notes.append(f"no end snapshot of the links: {exc}")
        logs = self._gather(ended_ns)
        self._write_json("ip-snapshots.json", self.snapshots)
        self._write_json("record-run.json", self._run_doc(ended_ns))
        with open(os.path.join(self.root, "scenario.yaml"), "w") as fh:
            yaml.safe_dump(self._scenario(dropped, logs), fh, sort_keys=False, width=1000,
                           default_flow_style=False, allow_unicode=True)

    def _stop(self):
        """The event command, the probes, then tcpdump; returns tcpdump's drop count."""
        if self.procs.get("event") is not None:
            self.procs.stop("event")
            self.say("event command stopped: the run was cut short")
        if self.procs.get("probe") is not None:
            self.procs.stop("probe")
            time.sleep(0.1)                        # the last datagrams leave before the capture ends
        dropped = None
        if self.capture is not None:
            try:
                _, dropped = self.capture.stop()
            except KsauditError as exc:
                self.incomplete = self.incomplete or f"the capture's drop count is unknown ({exc})"
        self.procs.stop_all()
        self.say(f"recording cut short: {self.incomplete}" if self.incomplete else "recording stopped")
        if self.log is not None:
            self.log.close()
        return dropped

    def _gather(self, ended_ns):
        """The scenario.yaml ``logs``: probes, the recorder's own, the journal, the named logs."""
        o = self.opts
        logs = [{"file": PROBE_LOG, "format": "ksaudit-probe", "clock": "device"},
                {"file": RECORD_LOG, "format": "journald-json", "clock": "device"}]
        entries, notes = collect.journal(self.root, self.started_ns, ended_ns,
                                         o.journal_units, o.journal_identifiers)
        logs += entries
        self.notes += notes + collect.probe_notes(os.path.join(self.root, PROBE_LOG), o.probe_targets)
        entries, notes = collect.copy_logs(self.root, o.logs, o.log_timezone,
                                           taken=[e["file"] for e in logs])
        self.notes += notes
        return logs + entries

    def _write_json(self, name, doc):
        with open(os.path.join(self.root, name), "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")

    def _run_doc(self, ended_ns):
        """What the recorder itself did and when (its truth, not the evidence's)."""
        o = self.opts
        return {"format": "ksaudit-record/1", "ksaudit_version": __version__,
                "hostname": self.hostname, "argv": sys.argv, "started_ns": self.started_ns,
                "ended_ns": ended_ns, "event_cmd": o.event_cmd, "manual": o.manual,
                "trials": self.trials, "incomplete_reason": self.incomplete}

    def _scenario(self, dropped, logs):
        o = self.opts
        ifindex, notes = host.ifindex(self.snapshots)
        self.notes += notes
        event = f"event command {o.event_cmd!r}" if o.event_cmd else "event caused by the tester"
        doc = {
            "build": o.build,
            "platform": "linux",
            "scenario": o.scenario,
            "description": o.description or (f"recorded by ksaudit record on {self.hostname}: "
                                             f"{event}, {o.trials} trial(s), {o.steady_s:g} s steady"),
            "device": {"tunnel_interfaces": self.tunnels,
                       "physical_interfaces": list(o.physical_interfaces)
                       or host.physical_interfaces(self.snapshots, self.tunnels),
                       "addresses": host.device_addresses(self.snapshots, self.tunnels),
                       "ifindex": ifindex},
            "vpn": {"endpoints": list(o.endpoints)},
            "policy": {"allow_lan": o.allow_lan, "allow": [], "tolerance_us": 1000},
            "captures": [{"file": PCAP, "vantage": "device", "clock": "device", "dropped": dropped}],
            "logs": logs,
            "clocks": {"device": {"offset_ns": 0}},
        }
        if o.processes:
            doc["vpn"]["processes"] = list(o.processes)
        if o.event_marks_tunnel:
            doc["rules"] = [dict(r) for r in EVENT_RULES]
        doc["incomplete"] = self.incomplete is not None
        if self.incomplete:
            doc["incomplete_reason"] = self.incomplete
        doc["notes"] = self.notes
        return doc
