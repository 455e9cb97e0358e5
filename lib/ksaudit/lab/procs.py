"""Processes the lab (and ``ksaudit record``) starts: started inside a namespace or not,
tracked and stopped by PID."""

import ctypes
import os
import signal
import subprocess
import time

from ksaudit.errors import KsauditError


class Procs:
    """Registry of the run's child processes; ``stop_all`` is safe to call any time."""

    def __init__(self, who="lab", die_with_parent=False):
        """``who`` prefixes the one-line errors ("record" for ``ksaudit record``); with
        ``die_with_parent`` each child gets SIGTERM when this process dies, even by SIGKILL
        (``PR_SET_PDEATHSIG``): a recorder has no ``lab cleanup`` to find its tcpdump."""
        self.who = who
        self.die_with_parent = die_with_parent
        self._procs = {}      # name -> Popen
        self._groups = set()  # names stopped by process group

    def start(self, name, argv, ns=None, stdout=None, stderr=None, env=None, group=False):
        """Start ``argv`` (inside ``ns`` via ``ip netns exec``, which execs it, so the PID
        is the program's own) in its own session; returns the Popen.  With ``group``,
        stopping it signals its whole process group (a shell command and its children)."""
        full = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
        parent = os.getpid()
        preexec = (lambda: _die_with_parent(parent)) if self.die_with_parent else None
        try:
            proc = subprocess.Popen(full, stdin=subprocess.DEVNULL,
                                    stdout=stdout if stdout is not None else subprocess.DEVNULL,
                                    stderr=stderr if stderr is not None else subprocess.DEVNULL,
                                    env=env, start_new_session=True, preexec_fn=preexec)
        except FileNotFoundError:
            raise KsauditError(f"{self.who}: cannot start {argv[0]}: not found")
        self._procs[name] = proc
        if group:
            self._groups.add(name)
        return proc

    def adopt(self, name, proc):
        """Track a process started some other way (a `daemon.Detached`) under ``name``."""
        self._procs[name] = proc
        return proc

    def get(self, name):
        return self._procs.get(name)

    def forget(self, name):
        self._procs.pop(name, None)
        self._groups.discard(name)

    def stop(self, name, sig=signal.SIGTERM, timeout_s=3.0):
        """Signal the process, wait up to ``timeout_s``, then SIGKILL; returns its exit code."""
        proc = self._procs.pop(name, None)
        if proc is None:
            return None
        group = name in self._groups
        self._groups.discard(name)
        return stop_proc(proc, sig, timeout_s, group=group)

    def stop_all(self):
        for name in list(self._procs):
            self.stop(name, timeout_s=2.0)


def _die_with_parent(parent):
    """In the child before exec: SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG = 1);
    a parent already gone (the child was reparented) means stop now."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def stop_proc(proc, sig=signal.SIGTERM, timeout_s=3.0, group=False):
    """Stop one Popen: ``sig``, bounded wait, then SIGKILL (also SIGCONT in case it is stopped).
    With ``group`` (a process that leads its own session) the signals go to its process
    group, and what of the group outlives the leader is SIGKILLed."""
    kill = os.killpg if group else os.kill
    if proc.poll() is None:
        try:
            kill(proc.pid, sig)
            kill(proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=timeout_s)
        if group:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return proc.returncode


def python_env():
    """The environment for ``python3 -m ksaudit...`` children: this checkout's lib first
    on PYTHONPATH, so a child runs the same ksaudit as its parent."""
    import ksaudit
    lib = os.path.dirname(os.path.dirname(os.path.abspath(ksaudit.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = lib + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def wait_for(predicate, timeout_s, what, interval_s=0.01, who="lab"):
    """Poll ``predicate()`` until true, at most ``timeout_s``; raise KsauditError naming ``what``."""
    end = time.monotonic() + timeout_s
    while True:
        if predicate():
            return
        if time.monotonic() >= end:
            raise KsauditError(f"{who}: timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)
