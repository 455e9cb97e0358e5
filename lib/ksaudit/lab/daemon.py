"""A daemon that forked away from its launcher, tracked and stopped by PID like a Popen.

``wireguard-go IFNAME`` (no ``-f``) opens the tun device and the control socket, then
re-executes itself in the background with both as inherited files and exits 0; the
daemon keeps the launcher's stdout and stderr when ``LOG_LEVEL`` is set (main.go,
"daemonize the process"), which is how its log reaches a file: ``wireguard-go wg0
>>wireguard-go.log 2>&1``.  The harness never learns the daemon's PID from the
launcher, so it finds it by its exact command line, as ``pgrep -xf`` would.

PID 1 on this kind of machine reaps nothing, so the harness makes itself a child
subreaper while the rig runs (``prctl(PR_SET_CHILD_SUBREAPER)``): the orphaned
daemon becomes its child and is reaped by PID.  Where that is refused, a zombie
counts as exited.
"""

import ctypes
import os
import subprocess
import time

PR_SET_CHILD_SUBREAPER = 36
_POLL_S = 0.005


def set_subreaper(on):
    """Make this process the reaper of its orphaned descendants (Linux); True if it is."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _state(pid):
    """The process state letter of ``pid`` (``R``, ``S``, ``Z`` …), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def find_pid(argv, exclude=()):
    """PIDs whose command line is exactly ``argv`` (a list of str), sorted."""
    want = b"\0".join(a.encode() for a in argv) + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if fh.read() == want:
                    found.append(int(entry))
        except OSError:
            continue
    return sorted(found)


class Detached:
    """``poll``/``wait``/``pid``/``returncode`` of a process this one did not start
    directly (so ``Procs`` and ``stop_proc`` handle it like a Popen)."""

    def __init__(self, pid, argv):
        self.pid, self.args, self.returncode = pid, list(argv), None

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        try:
            got, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:             # not ours to reap: read its state
            if _state(self.pid) in (None, "Z", "X"):
                self.returncode = -1
            return self.returncode
        if got == self.pid:
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() >= end:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(_POLL_S)
        return self.returncode
