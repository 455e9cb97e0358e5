"""Processes the lab starts: started inside a namespace, tracked and stopped by PID."""

import os
import signal
import subprocess
import time

from ksaudit.errors import KsauditError


class Procs:
    """Registry of the run's child processes; ``stop_all`` is safe to call any time."""

    def __init__(self):
        self._procs = {}      # name -> Popen

    def start(self, name, argv, ns=None, stdout=None, stderr=None, env=None):
        """Start ``argv`` (inside ``ns`` via ``ip netns exec``, which execs it, so the PID
        is the program's own) in its own session; returns the Popen."""
        full = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
        try:
            proc = subprocess.Popen(full, stdin=subprocess.DEVNULL,
                                    stdout=stdout if stdout is not None else subprocess.DEVNULL,
                                    stderr=stderr if stderr is not None else subprocess.DEVNULL,
                                    env=env, start_new_session=True)
        except FileNotFoundError:
            raise KsauditError(f"lab: cannot start {argv[0]}: not found")
        self._procs[name] = proc
        return proc

    def adopt(self, name, proc):
        """Track a process started some other way (a `daemon.Detached`) under ``name``."""
        self._procs[name] = proc
        return proc

    def get(self, name):
        return self._procs.get(name)

    def forget(self, name):
        self._procs.pop(name, None)

    def stop(self, name, sig=signal.SIGTERM, timeout_s=3.0):
        """Signal the process, wait up to ``timeout_s``, then SIGKILL; returns its exit code."""
        proc = self._procs.pop(name, None)
        if proc is None:
            return None
        return stop_proc(proc, sig, timeout_s)

    def stop_all(self):
        for name in list(self._procs):
            self.stop(name, timeout_s=2.0)


def stop_proc(proc, sig=signal.SIGTERM, timeout_s=3.0):
    """Stop one Popen: ``sig``, bounded wait, then SIGKILL (also SIGCONT in case it is stopped)."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
            os.kill(proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=timeout_s)
    return proc.returncode


def wait_for(predicate, timeout_s, what, interval_s=0.01):
    """Poll ``predicate()`` until true, at most ``timeout_s``; raise KsauditError naming ``what``."""
    end = time.monotonic() + timeout_s
    while True:
        if predicate():
            return
        if time.monotonic() >= end:
            raise KsauditError(f"lab: timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)
