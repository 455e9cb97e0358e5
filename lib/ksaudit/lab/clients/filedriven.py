"""A real VPN client described by a YAML file (``--client FILE``; ``--client wg-quick`` is the
packaged ``examples/wg-quick.yaml``), run in the device namespace with the lab as its
supervisor.

The file names the server protocol it needs (the lab provides the server and renders
keys, endpoint and addresses into ``{placeholders}``), the files to render, the commands
to connect and disconnect, how to find its processes (exact command line, as ``pgrep
-xf``), its tunnel interface and its logs.  Format and example: docs/lab.md "Clients".

The events act on the real client: ``process-kill`` SIGKILLs its processes and the lab,
as supervisor, runs the connect command again after ``--down-ms``; ``reconnect`` is the
disconnect command, the gap, the connect command; a lost link is the client's own
business (the harness's network-manager reactions do nothing here).  The tunnel is
"up" when the harness observes it (the server's ``observed_up``), stamped after that.
"""

import os
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone

from ksaudit.errors import KsauditError
from ksaudit.lab import topology as topo
from ksaudit.lab.clients.base import Client, copy_prefix, log_entry
from ksaudit.lab.clients.spec import render
from ksaudit.lab.daemon import Detached, find_pid
from ksaudit.lab.journal import now
from ksaudit.lab.procs import wait_for

PROCESS_TIMEOUT_S = 5.0          # the client's processes appear after connect / go after kill
UP_TIMEOUT_S = 10.0              # the tunnel is observed up after connect
CONNECT_ATTEMPTS = 3             # a supervisor retries a failed connect (Restart=on-failure)
RETRY_PAUSE_S = 0.2
READER_JOIN_S = 2.0
# a declared log with 1 s stamps (wireguard-go's): a line in the first episode's second
# widens its start back to the second's beginning, which must lie inside the captures
COARSE_LEAD_IN_MS = 1100


def _coarse(entry):
    """True for a declared log file whose format stamps whole seconds."""
    from ksaudit.oslogs.registry import get_format
    return "format" in entry and getattr(get_format(entry["format"]), "QUANTUM_NS", 0) >= 10**9


def _piped(entry):
    """A stream the lab reads line by line (stamped in its file, or into the journal)."""
    return bool(entry) and ("journal" in entry or "stamp" in entry)


class FileClient(Client):
    """A client file's commands, processes, interface and logs, supervised by the lab."""

    def __init__(self, ctx, spec, server_cls):
        server = server_cls(ctx)
        self.spec = spec
        self.name = spec["name"]
        self.dir = os.path.join(ctx.workdir, "client")
        os.makedirs(self.dir, exist_ok=True)
        values = {**server.placeholders(), "run_id": ctx.names.run_id, "dir": self.dir,
                  "interface": server.client_ifname}
        values["interface"] = render(spec["interface"], values)   # from here on: the client's
        prot = spec["protection"]
        for key, text in (prot["placeholders"] if prot else {}).items():
            values[key] = render(text, values) if ctx.policy == "client" else ""
        self.values = values
        super().__init__(ctx, server, values["interface"])
        self.supports_client_policy = prot is not None
        self.protection = prot["description"] if prot else None
        self.processes = sorted({p["name"] for p in spec["processes"]})
        self.lead_in_ms = COARSE_LEAD_IN_MS if any(_coarse(e) for e in spec["logs"]) else 0
        self.connected = False
        self._running = []             # [(name, Detached)] the client's processes now
        self._readers = []             # threads copying piped stdout/stderr lines
        self._render_files()
        self._sinks = {src: self._sink_path(src) for src in ("stdout", "stderr")}

    # --- files, commands and their output -------------------------------------------
    def _render_files(self):
        for name, text in self.spec["files"].items():
            path = os.path.join(self.dir, render(name, self.values))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(render(text, self.values))

    def _log_of(self, source):
        return next((e for e in self.spec["logs"] if e["source"] == source), None)

    def _sink_path(self, source):
        """Where a stream's lines go in the work dir: the declared file, else an
        undeclared one (kept for error messages, not part of the evidence)."""
        entry = self._log_of(source)
        name = entry["file"] if entry and "file" in entry else f"undeclared.{source}"
        return os.path.join(self.dir, "logs", name)

    def _stream(self, source):
        """(Popen argument, reader or None) for the command's ``source`` stream."""
        entry = self._log_of(source)
        os.makedirs(os.path.dirname(self._sinks[source]), exist_ok=True)
        if _piped(entry):
            return subprocess.PIPE, entry
        return open(self._sinks[source], "ab"), None

    def _run(self, field):
        """Run the connect or disconnect command in the device namespace (bounded);
        returns its exit code."""
        argv = ["ip", "netns", "exec", self.ns] + [render(a, self.values) for a in self.spec[field]]
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "TZ": "UTC",
               **{k: render(v, self.values) for k, v in self.spec["env"].items()}}
        out, out_entry = self._stream("stdout")
        err, err_entry = self._stream("stderr")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=env, start_new_session=True)
        except FileNotFoundError:
            raise KsauditError("lab: cannot run ip netns exec")
        finally:
            for fh in (out, err):
                if fh is not subprocess.PIPE:
                    fh.close()
        for pipe, entry, source in ((proc.stdout, out_entry, "stdout"), (proc.stderr, err_entry, "stderr")):
            if pipe is not None:
                t = threading.Thread(target=self._copy_lines, args=(pipe, entry, source, proc.pid),
                                     daemon=True)
                t.start()
                self._readers.append(t)
        try:
            code = proc.wait(timeout=self.spec["timeout_s"])
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
            raise KsauditError(f"lab: client {self.name}: {field} command did not finish in "
                               f"{self.spec['timeout_s']:g}s: {' '.join(argv[4:])}")
        return code

    def _copy_lines(self, pipe, entry, source, pid):
        """Each line as it arrives: into the journal under the file's identifier, or into
        the stream's file prefixed with its ISO 8601 read time (what `ts` would do)."""
        with pipe, open(self._sinks[source], "ab", buffering=0) as fh:
            for line in pipe:
                ts, mono = now()
                text = line.rstrip(b"\r\n")
                if "journal" in entry:
                    self.journal.write(ts, mono, entry["journal"], text.decode("utf-8", "replace"),
                                       pid=pid)
                stamp = datetime.fromtimestamp(ts / 1e9, timezone.utc).isoformat(timespec="microseconds")
                fh.write(stamp.encode() + b" " + text + b"\n")

    def _last_line(self, source):
        """The stream's last line (for an error message), without a read-time stamp."""
        time.sleep(0.05)                  # a piped stream's reader writes just after
        try:
            with open(self._sinks[source], "rb") as fh:
                tail = fh.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln for ln in tail.splitlines() if ln.strip()]
        if not lines:
            return ""
        return lines[-1].split(" ", 1)[-1] if _piped(self._log_of(source)) else lines[-1]

    # --- the client's processes ---------------------------------------------------------
    def _find_processes(self):
        """Wait (bounded) until every declared process runs; track them by PID."""
        found = {}

        def all_up():
            for p in self.spec["processes"]:
                found[p["name"]] = find_pid([render(a, self.values) for a in p["cmdline"]])
            return all(found.values())

        wait_for(all_up, PROCESS_TIMEOUT_S, f"the processes of client {self.name} "
                                            f"({', '.join(self.processes)})")
        self._running = []
        for name, pids in found.items():
            for pid in pids:
                handle = Detached(pid, [name])
                self.procs.adopt(f"client-{name}-{pid}", handle)
                self._running.append((name, handle))

    def _reap(self, timeout_s=PROCESS_TIMEOUT_S):
        """Wait (bounded) until the tracked processes are gone; stop them if they stay."""
        for name, handle in self._running:
            try:
                handle.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.procs.stop(f"client-{name}-{handle.pid}")
            self.procs.forget(f"client-{name}-{handle.pid}")
        self._running = []

    def _describe(self):
        return ", ".join(f"{name} pid {h.pid}" for name, h in self._running)

    # --- what the runner and the events call ---------------------------------------------
    def start_server(self):
        self.server.start()

    def start_process(self):
        """The connect command (retried like a supervisor would); then its processes."""
        self.owner_started()
        unit = f"ksaudit-lab-{self.name}.service"
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            code = self._run("connect")
            if code == 0:
                break
            ts, mono = now()
            self.journal.systemd(ts, mono, f"{unit}: Control process exited, code=exited, "
                                           f"status={code}/FAILURE")
            if attempt == CONNECT_ATTEMPTS:
                raise KsauditError(f"lab: client {self.name}: connect command failed ({code}) "
                                   f"{CONNECT_ATTEMPTS} times: {self._last_line('stderr')}")
            time.sleep(RETRY_PAUSE_S)
        self.connected = True
        self._find_processes()
        at = self.record("process_started", self._describe())
        self.journal.systemd(*at, f"Started {unit} - {self.name} ({self.ifname}).")
        self.snapshot_links()

    def tunnel_up(self, why="connected"):
        """Connect if the tunnel was taken down, then wait until it is observed up;
        stamped after the observation."""
        if not self.connected:
            self.start_process()
        wait_for(lambda: self.server.observed_up(self.ns, self.ifname), UP_TIMEOUT_S,
                 f"client {self.name}'s tunnel {self.ifname} to come up", interval_s=0.005)
        at = self.record("tunnel_up", f"{why} (observed)")
        self.tunnel_is_up = True
        self.set_resolver(topo.TUNNEL_RESOLVER)
        self.snapshot_links()
        self.journal.client(*at, f"tunnel up ({why}; handshake with {self.endpoint_spec} observed; "
                                 f"dev {self.ifname})")
        return at[0]

    def tunnel_down(self, why, nm_reason="user-requested"):
        """The disconnect command when the user asks for it; a network-manager reaction
        (any other reason) is not this client's: nothing happens, the time is returned."""
        at = now()
        if nm_reason != "user-requested" or not self.connected:
            return at[0]
        code = self._run("disconnect")
        self.record("tunnel_down", why, at=at)
        self.connected = self.tunnel_is_up = False
        self._reap()
        if code != 0:
            raise KsauditError(f"lab: client {self.name}: disconnect command failed ({code}): "
                               f"{self._last_line('stderr')}")
        self.set_resolver(topo.LAN_RESOLVER)
        self.journal.client(*at, f"tunnel down ({why}; dev {self.ifname})", 4)
        return at[0]

    def kill_process(self):
        """SIGKILL every process of the client; their interface goes with them."""
        at = self.record("process_killed", f"SIGKILL {self._describe()}")
        for _, handle in self._running:
            os.kill(handle.pid, signal.SIGKILL)
        self.owner_died()
        try:
            wait_for(self.interface_gone, PROCESS_TIMEOUT_S, f"{self.ifname} to disappear",
                     interval_s=0.001)
            gone = self.record("interface_removed", self.ifname)
            self.journal.nm_device(*gone, self.ifname, "activated", "unmanaged", "removed")
        except KsauditError:
            pass                    # a client whose interface outlives its process
        self._reap()
        self.connected = False
        self.killed(f"ksaudit-lab-{self.name}.service", f"{self.name} killed by signal 9")
        return at[0]

    def freeze_process(self, frozen):
        at = now()
        for _, handle in self._running:
            os.kill(handle.pid, signal.SIGSTOP if frozen else signal.SIGCONT)
        self.record("process_frozen" if frozen else "process_resumed", self._describe(),
                    at=at if frozen else None)

    def disconnect(self):
        """The user's disconnect: the disconnect command; every policy but ``strong``
        drops ksaudit's firewall.  Returns the ns time."""
        down = self.tunnel_down("disconnect requested")
        if self.policy != "strong":
            self.release_firewall("disconnected")
        return down

    def collect_logs(self, partial):
        """Copy the declared log files (cut at their last complete line) into logs/."""
        entries = []
        for entry in self.spec["logs"]:
            if "file" not in entry:
                continue
            src = (render(entry["path"], self.values) if entry["source"] == "path"
                   else self._sinks[entry["source"]])
            if not os.path.exists(src):
                raise KsauditError(f"lab: client {self.name}: declared log {src} was not written")
            copy_prefix(src, os.path.join(partial, "logs", entry["file"]))
            entries.append(log_entry(f"logs/{entry['file']}", entry["format"], entry["timezone"]))
        return entries

    def close(self):
        """After the processes are stopped: the readers see EOF and end (bounded); a
        killed daemon's socket goes."""
        for t in self._readers:
            t.join(timeout=READER_JOIN_S)
        self.server.forget_client(self.ifname)
        super().close()
