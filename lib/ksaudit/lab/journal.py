"""A journald-JSON writer (``journalctl -o json`` lines) for the lab's state changes.

Lines look like a real system's: every value a string, ``__REALTIME_TIMESTAMP`` (µs,
reception time), ``__MONOTONIC_TIMESTAMP`` (µs; it stops while "suspended", as
CLOCK_MONOTONIC does), ``_BOOT_ID``, ``_SOURCE_REALTIME_TIMESTAMP`` (the sender's own
time, a little earlier), or ``_SOURCE_MONOTONIC_TIMESTAMP`` for kernel lines.
"""

import json
import threading
import time

HOSTNAME = "ksaudit-lab-device"
NM_PID, LOGIND_PID, SYSTEMD_PID = 612, 598, 1
CLIENT_ID = "ksaudit-lab-client"


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip().replace("-", "")
    except OSError:
        return "0" * 32


class SuspendClock:
    """The kernel's suspend lines and the monotonic time they hide, for a log writer with a
    ``kernel(ts_ns, mono_ns, message)`` method (the journal and the foreign rig's syslog)."""
    suspended_ns = 0               # monotonic time hidden by "suspend"
    _suspend_start = None

    def suspend_entry(self, ts_ns, mono_ns):
        self.kernel(ts_ns, mono_ns, "PM: suspend entry (deep)")
        self._suspend_start = mono_ns

    def suspend_exit(self, ts_ns, mono_ns):
        """Monotonic time does not advance while suspended: hide the frozen span."""
        if self._suspend_start is not None:
            self.suspended_ns += max(0, mono_ns - self._suspend_start)
            self._suspend_start = None
        self.kernel(ts_ns, mono_ns, "PM: suspend exit")


class Journal(SuspendClock):
    """Appends journald-JSON lines to ``path``; each ``*_at`` method takes the harness's
    own ns timestamp of the state change it reports."""

    def __init__(self, path, client_pid, hostname=HOSTNAME):
        self.path, self.hostname = path, hostname
        self.client_pid = client_pid
        self.boot_id = _boot_id()
        self._seq = 0
        self._fh = open(path, "a", buffering=1)
        self._lock = threading.Lock()      # a real client's output lines come from reader threads

    def close(self):
        self._fh.close()

    def _mono_us(self, mono_ns):
        return (mono_ns - self.suspended_ns) // 1000

    def write(self, ts_ns, mono_ns, ident, message, pid=None, priority=6, kernel=False):
        """One record: source time ``ts_ns``; reception time is now (after the event)."""
        with self._lock:
            self._write(ts_ns, mono_ns, ident, message, pid, priority, kernel)

    def _write(self, ts_ns, mono_ns, ident, message, pid, priority, kernel):
        recv_ns = max(time.time_ns(), ts_ns + 1000)
        self._seq += 1
        rec = {
            "__CURSOR": f"s={self.boot_id};i={self._seq:x};b={self.boot_id};"
                        f"m={self._mono_us(mono_ns):x};t={recv_ns // 1000:x}",
            "__REALTIME_TIMESTAMP": str(recv_ns // 1000),
            "__MONOTONIC_TIMESTAMP": str(self._mono_us(mono_ns) + (recv_ns - ts_ns) // 1000),
            "_BOOT_ID": self.boot_id,
            "PRIORITY": str(priority),
            "_HOSTNAME": self.hostname,
            "SYSLOG_IDENTIFIER": ident,
            "MESSAGE": message,
        }
        if kernel:
            rec.update({"SYSLOG_FACILITY": "0", "_TRANSPORT": "kernel",
                        "_SOURCE_MONOTONIC_TIMESTAMP": str(self._mono_us(mono_ns))})
        else:
            rec.update({"SYSLOG_FACILITY": "3", "_TRANSPORT": "journal", "_PID": str(pid),
                        "_COMM": ident if ident != "NetworkManager" else "NetworkManager",
                        "_SOURCE_REALTIME_TIMESTAMP": str(ts_ns // 1000)})
        self._fh.write(json.dumps(rec) + "\n")

    # --- the sources -------------------------------------------------------------
    def nm_device(self, ts_ns, mono_ns, device, old, new, reason):
        """NetworkManager device state change (its own [epoch.4f] time inside)."""
        msg = (f"<info>  [{ts_ns // 10**9}.{(ts_ns // 10**5) % 10**4:04d}] device ({device}): "
               f"state change: {old} -> {new} (reason '{reason}', sys-iface-state: 'managed')")
        self.write(ts_ns, mono_ns, "NetworkManager", msg, pid=NM_PID)

    def nm(self, ts_ns, mono_ns, text):
        msg = f"<info>  [{ts_ns // 10**9}.{(ts_ns // 10**5) % 10**4:04d}] {text}"
        self.write(ts_ns, mono_ns, "NetworkManager", msg, pid=NM_PID)

    def kernel(self, ts_ns, mono_ns, message):
        self.write(ts_ns, mono_ns, "kernel", message, kernel=True)

    def client(self, ts_ns, mono_ns, message, priority=6):
        self.write(ts_ns, mono_ns, CLIENT_ID, message, pid=self.client_pid, priority=priority)

    def systemd(self, ts_ns, mono_ns, message):
        self.write(ts_ns, mono_ns, "systemd", message, pid=SYSTEMD_PID)

    def logind(self, ts_ns, mono_ns, message):
        self.write(ts_ns, mono_ns, "systemd-logind", message, pid=LOGIND_PID)

    def agent(self, ts_ns, mono_ns, message):
        """A line of the client's own that has no journal counterpart (the foreign rig's
        agent words it; here it is the client's)."""
        self.client(ts_ns, mono_ns, message)



def now():
    """(realtime ns, monotonic ns) read back to back."""
    return time.time_ns(), time.monotonic_ns()

