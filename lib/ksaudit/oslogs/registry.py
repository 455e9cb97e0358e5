"""The format registry: name -> parser module, and sniffing for ``format="auto"``.

Every format module exposes ``NAME``, ``DESCRIPTION``, ``sniff(head) -> float``
(0 = certainly not, 1 = certainly) and ``parse(path, ctx)``.  To add a format,
write the module and list it in ``MODULES``.
"""

from functools import lru_cache
from importlib import import_module

from ksaudit.errors import KsauditError

MODULES = (
    "probe", "journald_json", "journald_export", "journald_short", "networkmanager",
    "wireguard_go", "wg_quick", "syslog_rfc5424", "syslog_rfc3339", "syslog_rfc3164",
    "openvpn", "macos_ndjson", "macos_json", "macos_text", "macos_syslog", "evtx_log", "logcat",
)
HEAD_BYTES = 8192
MIN_SCORE = 0.3


@lru_cache(maxsize=1)
def formats():
    """{name: module} for every registered format, in sniffing priority order."""
    out = {}
    for mod_name in MODULES:
        try:
            mod = import_module(f"ksaudit.oslogs.{mod_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ksaudit.oslogs.{mod_name}":
                continue  # not written yet
            raise
        out[mod.NAME] = mod
    return out


def get_format(name):
    """The module registered as ``name`` (KsauditError listing the known ones)."""
    mods = formats()
    if name not in mods:
        raise KsauditError(f"unknown log format {name!r}; known: {', '.join(mods)}")
    return mods[name]


def scores(head):
    """[(score, name)] for ``head``, best first (only formats scoring > 0)."""
    out = []
    for name, mod in formats().items():
        try:
            score = float(mod.sniff(head))
        except Exception:  # a sniffer must never break auto-detection
            score = 0.0
        if score > 0:
            out.append((score, name))
    out.sort(key=lambda t: -t[0])
    return out


def sniff_format(head, path="<input>"):
    """(name, score) of the best-matching format; KsauditError when none fits."""
    if not head.strip():
        raise KsauditError(f"{path}: is empty (no line to tell the log format from); "
                           f"declare its format to read it as a log without events")
    ranked = scores(head)
    if not ranked or ranked[0][0] < MIN_SCORE:
        line = head.split(b"\n", 1)[0][:80]
        try:
            first = f"first line: {ascii(line.decode('utf-8'))}"
        except UnicodeDecodeError:
            first = f"binary data starting with bytes {line[:8].hex(' ')}"
        raise KsauditError(f"{path}: cannot tell the log format ({first}); "
                           f"declare one of: {', '.join(formats())}")
    return ranked[0][1], ranked[0][0]
