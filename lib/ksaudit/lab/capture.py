"""tcpdump captures inside lab namespaces, with the drop count tcpdump prints at exit.

``--immediate-mode -s 2048 -B 16384`` keeps drops at 0 on this kind of machine; the
"N packets dropped by kernel" line is still read and recorded (``captures[].dropped``).
"""

import re
import signal

from ksaudit.errors import KsauditError
from ksaudit.lab.procs import stop_proc, wait_for

START_TIMEOUT_S = 5.0
_DROPPED = re.compile(r"^(\d+) packets? dropped by kernel", re.M)
_CAPTURED = re.compile(r"^(\d+) packets? captured", re.M)


class Capture:
    """One running tcpdump; ``stop()`` returns (captured, dropped)."""

    def __init__(self, procs, name, ns, iface, pcap_path, stderr_path, nano=True, buffer_kib=16384):
        """``nano``: ns time stamps (the lab's); False is tcpdump's default, µs.  ``ns``
        None captures where the caller runs (``ksaudit record``); ``buffer_kib`` is
        tcpdump's ``-B`` (a busy real host wants more than the lab's 16 MiB)."""
        self.procs, self.name, self.stderr_path = procs, name, stderr_path
        precision = ["--time-stamp-precision", "nano"] if nano else []
        argv = ["tcpdump", "-i", iface, "-n", "-Z", "root", *precision,
                "--immediate-mode", "-s", "2048", "-B", str(buffer_kib), "-w", pcap_path]
        self._err = open(stderr_path, "w")
        self.proc = procs.start(name, argv, ns=ns, stderr=self._err)
        wait_for(self._listening, START_TIMEOUT_S, f"tcpdump on {iface} to start", interval_s=0.01,
                 who=procs.who)
        if self.proc.poll() is not None:
            raise KsauditError(f"{procs.who}: tcpdump on {iface} exited: {self._stderr().strip()[-200:]}")

    def _stderr(self):
        with open(self.stderr_path) as fh:
            return fh.read()

    def _listening(self):
        return self.proc.poll() is not None or "listening on" in self._stderr()

    def stop(self):
        """SIGINT, bounded wait; returns (captured, dropped) parsed from tcpdump's report."""
        self.procs.forget(self.name)
        stop_proc(self.proc, signal.SIGINT, timeout_s=5.0)
        self._err.close()
        text = self._stderr()
        dropped = _DROPPED.search(text)
        captured = _CAPTURED.search(text)
        if dropped is None:
            raise KsauditError(f"{self.procs.who}: tcpdump gave no drop count ({self.stderr_path}): "
                               f"{text[-200:]!r}")
        return (int(captured.group(1)) if captured else None), int(dropped.group(1))

