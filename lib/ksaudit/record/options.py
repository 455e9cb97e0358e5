"""What `ksaudit record` is asked to do, checked before anything is started.

Every value a user can get wrong is a one-line `KsauditError` here, without root and
before the host is touched: the probe target (an IP literal and a port, there is no
default), the VPN endpoints (`ksaudit.scenario.parse_endpoint`), the output directory
(must not exist or be empty), the build name, the bounds of every period, the named
log files and their formats.
"""

from __future__ import annotations

import ipaddress
import math
import os
import stat
from dataclasses import dataclass

from ksaudit.errors import KsauditError
from ksaudit.lab.runner import check_output_dir
from ksaudit.oslogs.timeutil import get_zone
from ksaudit.scenario import SCENARIOS, parse_endpoint

MAX_TRIALS = 20
MAX_STEADY_S = 600.0
MAX_DURATION_S = 3600.0


@dataclass(frozen=True)
class LogFile:
    """A log file named with ``--log FILE[:FORMAT]``: copied into ``logs/`` at the end."""
    path: str
    format: str = "auto"


@dataclass(frozen=True)
class RecordOptions:
    """A recording: where to write, what to probe, how the event is caused.  Times in s."""
    out: str
    build: str
    probe_targets: tuple                 # "ADDR:PORT" / "[V6]:PORT"
    endpoints: tuple                     # scenario.yaml vpn.endpoints
    tunnel_interfaces: tuple = ()        # empty with discover_tunnel
    discover_tunnel: bool = False
    physical_interfaces: tuple = ()      # empty: every other non-loopback link
    processes: tuple = ()                # vpn.processes (empty: not declared)
    event_cmd: str | None = None
    manual: bool = False
    event_marks_tunnel: bool = False     # the event's start/end are read as tunnel down/up
    trials: int = 1
    steady_s: float = 3.0                # before the first event and after each
    duration_s: float = 600.0            # bound on the whole run
    probe_interval_ms: float = 10.0
    logs: tuple = ()                     # LogFile
    log_timezone: str = "UTC"            # for named logs whose lines carry no zone
    journal_units: tuple = ()
    journal_identifiers: tuple = ()
    scenario: str = "custom"
    description: str | None = None
    allow_lan: bool = False
    buffer_kib: int = 65536              # tcpdump -B


def parse_target(text):
    """``ADDR:PORT`` or ``[V6]:PORT`` with an IP literal (a name would need DNS, which is
    itself traffic the test must not depend on); returns the text."""
    host, sep, port = (text[1:].partition("]:") if text.startswith("[") else text.rpartition(":"))
    try:
        addr = ipaddress.ip_address(host)
        ok = bool(sep) and port.isascii() and port.isdigit() and 0 < int(port) < 65536
    except ValueError:
        ok = False
    if not ok or (addr.version == 6) != text.startswith("["):
        raise KsauditError(f"record: --probe-target must be ADDR:PORT with an IP address "
                           f"('192.0.2.80:33434', '[2001:db8::80]:33434'), got {text!r}")
    return text


def parse_log(text, formats):
    """``FILE`` or ``FILE:FORMAT``; a path that exists as given wins over a split at ':'."""
    path, fmt = text, "auto"
    if not os.path.lexists(text) and ":" in text:
        path, fmt = text.rsplit(":", 1)
        if fmt not in formats:
            raise KsauditError(f"record: --log {text!r}: unknown format {fmt!r} "
                               f"(auto or one of {', '.join(sorted(formats))})")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise KsauditError(f"record: --log {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode) or not os.access(path, os.R_OK):
        raise KsauditError(f"record: --log {path}: not a readable regular file")
    return LogFile(os.path.abspath(path), fmt)


def _bounded(value, name, lo, hi):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi):
        raise KsauditError(f"record: --{name} must be {lo:g}..{hi:g}, got {value!r}")


def check(opts: RecordOptions):
    """Raise a one-line KsauditError for the first option that is wrong."""
    if not opts.probe_targets:
        raise KsauditError("record: --probe-target is required (your own sink; there is no default)")
    for t in opts.probe_targets:
        parse_target(t)
    if not opts.endpoints:
        raise KsauditError("record: --vpn-endpoint is required (ADDR:PORT/PROTO of the VPN server)")
    for e in opts.endpoints:
        parse_endpoint(e, f"record: --vpn-endpoint {e!r}")
    if bool(opts.tunnel_interfaces) == opts.discover_tunnel:
        raise KsauditError("record: give the tunnel interface (--tunnel-interface IF, repeatable) "
                           "or --discover-tunnel, not both and not neither")
    if opts.manual == (opts.event_cmd is not None):
        raise KsauditError("record: give --event-cmd CMD or --manual (one of them)")
    if opts.event_cmd is not None and not opts.event_cmd.strip():
        raise KsauditError("record: --event-cmd is empty")
    if opts.scenario not in SCENARIOS:
        raise KsauditError(f"record: --scenario must be one of {', '.join(SCENARIOS)}")
    build = opts.build
    if not build.strip() or "/" in build or not build.isprintable():
        raise KsauditError(f"record: --build {build!r} must be a non-empty printable name without '/'")
    if not isinstance(opts.trials, int) or not 1 <= opts.trials <= MAX_TRIALS:
        raise KsauditError(f"record: --trials must be 1..{MAX_TRIALS}, got {opts.trials!r}")
    _bounded(opts.steady_s, "steady-s", 0.5, MAX_STEADY_S)
    _bounded(opts.duration_s, "duration", 1, MAX_DURATION_S)
    _bounded(opts.probe_interval_ms, "probe-interval-ms", 1, 1000)
    if not isinstance(opts.buffer_kib, int) or not 1024 <= opts.buffer_kib <= 4 * 1024 * 1024:
        raise KsauditError(f"record: --buffer-kib must be 1024..4194304, got {opts.buffer_kib!r}")
    if opts.steady_s * (opts.trials + 1) >= opts.duration_s:
        raise KsauditError(f"record: --duration {opts.duration_s:g} s leaves no time for the events "
                           f"({opts.trials + 1} steady periods of {opts.steady_s:g} s)")
    for name in opts.tunnel_interfaces + opts.physical_interfaces:
        if not name or len(name) > 15 or "/" in name or not name.isprintable() or " " in name:
            raise KsauditError(f"record: {name!r} is not an interface name")
    try:
        get_zone(opts.log_timezone)
    except KsauditError as exc:
        raise KsauditError(f"record: --log-timezone: {exc}") from None
    check_output_dir(opts.out, "record")
