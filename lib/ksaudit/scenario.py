"""Load and validate a scenario directory's ``scenario.yaml`` (DESIGN.md "The scenario directory").

Every field not given takes its default; an unknown field, a wrong type or a path
that leaves the scenario directory is a `KsauditError` naming the field, because a
typo must never silently weaken the check.  Beyond DESIGN.md's fields, ``rules``
(extra log-recognition rules handed to `read_events`) is accepted, and so is
``vpn.processes``: the VPN client's processes or units (``[wireguard-go, openvpn,
mullvad-daemon.service]``; a list of non-empty strings, at least one).  When given,
a ``process_exit`` / ``process_start`` log event is episode evidence only if it names
one of them (its identifier, or the unit or process its message names, compared
case-insensitively; a unit ``X.service`` also answers to ``X``); other process
events stay in the event table.
Not given (``Scenario.processes`` is None): every process exit opens an episode, as
it may be the VPN client's (fail safe).  ``vpn.blocks_when_disconnected`` (true or
false) says whether the product promises to block traffic while the user has
disconnected; it decides a ``scenario: disconnect`` (docs/events.md): false lists a
user disconnect's leaks without failing; true, or not given (``None``: an escape
valve is opt-in, like ``allow_lan``), fails them.  ``scenario`` also takes ``boot``
(the evidence begins before the tunnel first came up; that stretch is an episode) and
``disconnect``.  ``clocks`` are validated by
`ksaudit.align.clocks` and ``window`` (the test window) by `ksaudit.window`.
``incomplete: true`` (with an optional ``incomplete_reason`` text) says the evidence
was cut short (``ksaudit record`` interrupted): `analyze` then holds the reason
``incomplete_evidence`` for every episode, so the verdict is at best INCONCLUSIVE (a
leak that was seen still FAILs).  ``notes`` (a list of texts, e.g. "journald is not
running here") is what the recorder wants a reader to know; `analyze` lists them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ksaudit.align.clocks import parse_clocks
from ksaudit.errors import KsauditError
from ksaudit.safeio import open_regular, shown
from ksaudit.window import parse_window

PLATFORMS = ("linux", "macos", "windows", "android", "ios")
SCENARIOS = ("wifi-yank", "process-kill", "sleep-wake", "network-change", "reconnect",
             "reboot", "flapping", "boot", "disconnect", "custom")
VANTAGES = ("device", "external")
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132}


@dataclass(frozen=True)
class Endpoint:
    """A VPN endpoint or allow rule: address prefix, port and protocol (None = any)."""
    text: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None
    proto: int | None


@dataclass(frozen=True)
class CaptureSpec:
    file: str
    vantage: str = "device"
    clock: str = "device"
    dropped: int | None = None
    interface: str | None = None      # name for the file's unnamed interfaces ("#0")


@dataclass(frozen=True)
class LogSpec:
    file: str
    format: str = "auto"
    clock: str = "device"
    timezone: str | None = None
    year: int | None = None          # for formats without a year (RFC 3164): a Feb 29 line


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; paths are relative to `root` and stay inside it."""
    root: Path
    build: str
    platform: str = "linux"
    scenario: str = "custom"
    description: str = ""
    tunnel_interfaces: tuple = ("wg0",)
    physical_interfaces: tuple = ("wlan0",)
    addresses: tuple = ()
    ifindex: dict = field(default_factory=dict)
    endpoints: tuple = ()
    allow_lan: bool = False
    allow: tuple = ()
    tolerance_us: int = 1000
    captures: tuple = ()
    logs: tuple = ()
    clocks: dict = field(default_factory=dict)    # {name: ksaudit.align.ClockModel}
    window: object = None                          # ksaudit.window.DeclaredWindow
    rules: tuple = ()
    processes: tuple | None = None     # vpn.processes; None = not declared (no filtering)
    incomplete: bool = False           # the evidence was cut short (fail closed)
    incomplete_reason: str | None = None
    notes: tuple = ()
    blocks_when_disconnected: bool | None = None   # vpn.; None = not declared (judged as true)

    @property
    def name(self) -> str:
        return self.root.name

    def path(self, relative: str) -> Path:
        return self.root / relative

    def to_dict(self) -> dict:
        """The scenario as the analysis document shows it (no absolute paths)."""
        return {
            "name": self.name, "build": self.build, "platform": self.platform,
            "scenario": self.scenario, "description": self.description,
            "device": {"tunnel_interfaces": list(self.tunnel_interfaces),
                       "physical_interfaces": list(self.physical_interfaces),
                       "addresses": list(self.addresses),
                       "ifindex": {str(k): v for k, v in sorted(self.ifindex.items())}},
            "vpn": {"endpoints": [e.text for e in self.endpoints],
                    "processes": None if self.processes is None else list(self.processes),
                    "blocks_when_disconnected": self.blocks_when_disconnected},
            "policy": {"allow_lan": self.allow_lan, "allow": [a.text for a in self.allow],
                       "tolerance_us": self.tolerance_us},
            "clocks": {name: m.to_dict() for name, m in sorted(self.clocks.items())},
            "window": None if self.window is None else self.window.to_dict(),
            "incomplete": self.incomplete, "incomplete_reason": self.incomplete_reason,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------- field checks

def _fail(where, what):
    raise KsauditError(f"{where}: {what}")


def _mapping(value, where, allowed):
    if value is None:
        value = {}
    if not isinstance(value, dict):
        _fail(where, f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            _fail(where, f"unknown field {key!r} (allowed: {', '.join(allowed)})")
    return value


def _str(value, where, *, choices=None, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not value and choices is None and not optional):
        _fail(where, f"must be a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        _fail(where, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _int(value, where, *, minimum=None, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        _fail(where, f"must be >= {minimum}, got {value}")
    return value


def _bool(value, where):
    if not isinstance(value, bool):
        _fail(where, f"must be true or false, got {value!r}")
    return value


def _list(value, where):
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(where, f"must be a list, got {type(value).__name__}")
    return value


def _relpath(root: Path, value, where) -> str:
    text = _str(value, where)
    if os.path.isabs(text) or "\\" in text:
        _fail(where, f"must be a path relative to the scenario directory, got {text!r}")
    if "\0" in text or any(len(part) > 255 for part in text.split("/")):
        _fail(where, f"not a usable file name: {text[:40]!r}")
    try:
        real_root = root.resolve()
        real = (root / text).resolve()
    except (OSError, RuntimeError) as exc:
        _fail(where, f"cannot resolve {text!r}: {exc}")
    if real == real_root:
        _fail(where, f"{text!r} names the scenario directory itself, not a file in it")
    if real_root not in real.parents:
        _fail(where, f"path {text!r} leaves the scenario directory")
    return text


def _once(seen: dict, value, where):
    """Refuse a file declared twice (a copy-paste slip that would hide the file meant).
    A value that is no string (a list, a mapping) is left to `_relpath` to refuse."""
    if not isinstance(value, str):
        return
    key = os.path.normpath(value)
    if key in seen:
        _fail(where, f"{value!r} is already declared as {seen[key]}")
    seen[key] = where


_RULE = re.compile(r"(?P<proto>[a-z0-9]+)/(?P<pport>\d+|\*)|(?P<bare>[a-z0-9]+)", re.ASCII)
_ENDPOINT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>\d+)/(?P<proto>[a-z0-9]+)",
                       re.ASCII)


def _proto(text, where):
    if text.isascii() and text.isdigit() and int(text) < 256:
        return int(text)
    if text not in PROTOCOLS:
        _fail(where, f"unknown protocol {text!r} (use {', '.join(PROTOCOLS)} or a number)")
    return PROTOCOLS[text]


def _port(text, where):
    port = int(text)
    if not 0 < port < 65536:
        _fail(where, f"port {port} out of range 1-65535")
    return port


def parse_endpoint(text, where, *, rule=False) -> Endpoint:
    """Parse ``ADDR:PORT/PROTO`` (``[v6]:PORT/PROTO``); with `rule`, also
    ``PROTO``, ``PROTO/PORT`` and ``CIDR``."""
    text = _str(text, where)
    m = _ENDPOINT.fullmatch(text)
    if m:
        addr = m.group("v6") or m.group("v4")
        try:
            net = ipaddress.ip_network(addr)
        except ValueError:
            _fail(where, f"bad address {addr!r} in {text!r}")
        return Endpoint(text, net, _port(m.group("port"), where), _proto(m.group("proto"), where))
    if rule:
        m = _RULE.fullmatch(text)
        if m and m.group("bare"):
            return Endpoint(text, None, None, _proto(m.group("bare"), where))
        if m:
            port = None if m.group("pport") == "*" else _port(m.group("pport"), where)
            return Endpoint(text, None, port, _proto(m.group("proto"), where))
        try:
            return Endpoint(text, ipaddress.ip_network(text, strict=True), None, None)
        except ValueError:
            pass
        _fail(where, f"cannot read rule {text!r} (forms: 'udp/5353', 'tcp', "
                     "'203.0.113.53/32', '192.168.50.10:631/tcp', '[fd00::1]:53/udp')")
    _fail(where, f"cannot read endpoint {text!r} (form: '198.51.100.2:51820/udp' or "
                 "'[2001:db8::2]:51820/udp')")


def _processes(vpn: dict):
    """``vpn.processes`` as a tuple of names, or None when the field is not given."""
    if "processes" not in vpn:
        return None
    items = vpn["processes"]
    if not isinstance(items, list):
        _fail("vpn.processes", "must be a list of process or unit names (e.g. [wireguard-go, "
                               f"mullvad-daemon.service]), got {items!r}")
    if not items:
        _fail("vpn.processes", "must name at least one process or unit (leave the field out "
                               "to count every process exit)")
    for i, v in enumerate(items):
        if not isinstance(v, str) or not v.strip():
            _fail(f"vpn.processes[{i}]", f"must be a non-empty process or unit name, got {v!r}")
    return tuple(v.strip() for v in items)


# ---------------------------------------------------------------- loader

class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last
    one silently: a second ``allow_lan: true`` would quietly override the first)."""

    def construct_object(self, node, deep=False):
        """PyYAML's constructors raise plain Python errors for a value its explicit tag
        contradicts (``!!int x``, ``!!bool x``, ``!!timestamp x``): a YAML error here."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{str(node.value)[:40]!r} is not a valid !!{tag}",
                node.start_mark) from exc


def _no_duplicate_keys(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":      # '<<: *anchor' may be overridden
            continue
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (str, int, float, bool)) or key is None:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice in one mapping", key_node.start_mark)
            seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              lambda loader, node: _no_duplicate_keys(loader, node))

_TOP = ("build", "platform", "scenario", "description", "device", "vpn", "policy",
        "captures", "logs", "clocks", "window", "rules", "incomplete", "incomplete_reason", "notes")


def load_scenario(directory) -> Scenario:
    """Read and validate ``DIR/scenario.yaml``.

    Parameters
    ----------
    directory : str or os.PathLike
        The scenario directory (holds scenario.yaml, the captures and logs/).

    Returns
    -------
    Scenario
        Frozen, with every default filled in.  Raises `KsauditError` naming the
        field for an unknown field, a wrong type or a path leaving the directory.
    """
    root = Path(directory)
    path = root / "scenario.yaml"
    if not root.is_dir():
        raise KsauditError(f"{root}: not a scenario directory")
    try:
        os.path.abspath(root).encode("utf-8")
    except UnicodeEncodeError:   # a name in another encoding: no UTF-8 table or report holds it
        raise KsauditError(f"{shown(root)}: the directory's path is not valid UTF-8; "
                           "rename it") from None
    if not os.path.lexists(path):
        raise KsauditError(f"{path}: missing (every scenario directory needs one)")
    try:
        with open_regular(path) as fh:  # a FIFO or a directory there: one line, never a hang
            doc = yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise KsauditError(f"{where}: not valid YAML ({what})") from None
    except RecursionError:
        raise KsauditError(f"{path}: not valid YAML (nested too deeply)") from None
    w = "scenario.yaml"
    doc = _mapping(doc, w, _TOP)
    if "build" not in doc:
        _fail(w, "field 'build' is required")
    if not isinstance(doc["build"], str) or not doc["build"]:
        _fail("build", f"must be a non-empty string (quote version numbers: build: \"2026.10\"), "
                       f"got {doc['build']!r}")
    out = {"build": doc["build"]}
    out["platform"] = _str(doc.get("platform", "linux"), "platform", choices=PLATFORMS)
    out["scenario"] = _str(doc.get("scenario", "custom"), "scenario", choices=SCENARIOS)
    desc = doc.get("description", "")
    out["description"] = "" if desc is None else _str(desc, "description", optional=True)

    dev = _mapping(doc.get("device"), "device",
                   ("tunnel_interfaces", "physical_interfaces", "addresses", "ifindex"))
    for key, default in (("tunnel_interfaces", ["wg0"]), ("physical_interfaces", ["wlan0"])):
        items = _list(dev.get(key, default), f"device.{key}")
        out[key] = tuple(_str(v, f"device.{key}[{i}]") for i, v in enumerate(items))
    addrs = []
    for i, v in enumerate(_list(dev.get("addresses"), "device.addresses")):
        try:
            addrs.append(str(ipaddress.ip_address(_str(v, f"device.addresses[{i}]"))))
        except ValueError:
            _fail(f"device.addresses[{i}]", f"not an IP address: {v!r}")
    out["addresses"] = tuple(addrs)
    ifindex = dev.get("ifindex") or {}
    if not isinstance(ifindex, dict):
        _fail("device.ifindex", f"must be a mapping like {{2: wlan0}}, got {ifindex!r}")
    out["ifindex"] = {}
    for k, v in ifindex.items():
        key = int(k) if isinstance(k, str) and k.isascii() and k.isdigit() else k
        out["ifindex"][_int(key, f"device.ifindex key {k!r}", minimum=0)] = \
            _str(v, f"device.ifindex[{k}]")

    vpn = _mapping(doc.get("vpn"), "vpn", ("endpoints", "processes", "blocks_when_disconnected"))
    eps = _list(vpn.get("endpoints"), "vpn.endpoints")
    if not eps:
        _fail("vpn.endpoints", "at least one VPN endpoint ('ADDR:PORT/PROTO') is required")
    out["endpoints"] = tuple(parse_endpoint(v, f"vpn.endpoints[{i}]") for i, v in enumerate(eps))
    out["processes"] = _processes(vpn)
    promise = vpn.get("blocks_when_disconnected")
    out["blocks_when_disconnected"] = (None if promise is None else
                                       _bool(promise, "vpn.blocks_when_disconnected"))

    pol = _mapping(doc.get("policy"), "policy", ("allow_lan", "allow", "tolerance_us"))
    out["allow_lan"] = _bool(pol.get("allow_lan", False), "policy.allow_lan")
    out["allow"] = tuple(parse_endpoint(v, f"policy.allow[{i}]", rule=True)
                         for i, v in enumerate(_list(pol.get("allow"), "policy.allow")))
    out["tolerance_us"] = _int(pol.get("tolerance_us", 1000), "policy.tolerance_us", minimum=0)

    caps = _list(doc.get("captures"), "captures")
    if not caps:
        _fail("captures", "at least one capture is required")
    captures, seen = [], {}
    for i, c in enumerate(caps):
        wh = f"captures[{i}]"
        c = _mapping(c, wh, ("file", "vantage", "clock", "dropped", "interface"))
        if "file" not in c:
            _fail(wh, "field 'file' is required")
        _once(seen, c["file"], f"{wh}.file")
        captures.append(CaptureSpec(
            _relpath(root, c["file"], f"{wh}.file"),
            _str(c.get("vantage", "device"), f"{wh}.vantage", choices=VANTAGES),
            _str(c.get("clock", "device"), f"{wh}.clock"),
            _int(c.get("dropped"), f"{wh}.dropped", minimum=0, optional=True),
            _str(c.get("interface"), f"{wh}.interface", optional=True)))
    out["captures"] = tuple(captures)

    logs = []
    for i, entry in enumerate(_list(doc.get("logs"), "logs")):
        wh = f"logs[{i}]"
        entry = _mapping(entry, wh, ("file", "format", "clock", "timezone", "year"))
        if "file" not in entry:
            _fail(wh, "field 'file' is required")
        _once(seen, entry["file"], f"{wh}.file")
        logs.append(LogSpec(
            _relpath(root, entry["file"], f"{wh}.file"),
            _str(entry.get("format", "auto"), f"{wh}.format"),
            _str(entry.get("clock", "device"), f"{wh}.clock"),
            _str(entry.get("timezone"), f"{wh}.timezone", optional=True),
            _int(entry.get("year"), f"{wh}.year", minimum=1970, optional=True)))
    out["logs"] = tuple(logs)

    out["clocks"] = parse_clocks(doc.get("clocks"))
    out["window"] = parse_window(doc.get("window"))
    rules = _list(doc.get("rules"), "rules")
    for i, r in enumerate(rules):
        if not isinstance(r, dict):
            _fail(f"rules[{i}]", f"must be a mapping, got {type(r).__name__}")
    out["rules"] = tuple(rules)
    out["incomplete"] = _bool(doc.get("incomplete", False), "incomplete")
    out["incomplete_reason"] = _str(doc.get("incomplete_reason"), "incomplete_reason", optional=True)
    if out["incomplete_reason"] and not out["incomplete"]:
        _fail("incomplete_reason", "given but 'incomplete' is not true (say incomplete: true)")
    out["notes"] = tuple(_str(v, f"notes[{i}]") for i, v in enumerate(_list(doc.get("notes"), "notes")))
    return Scenario(root=root, **out)
