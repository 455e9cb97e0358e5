"""The format registry: name -> parser module, and sniffing for ``format="auto"``.

Every format module exposes ``NAME``, ``DESCRIPTION``, ``sniff(head) -> float``
(0 = certainly not, 1 = certainly) and ``parse(path, ctx)``.  To add a format,
write the module and list it in ``MODULES``.
"""

from functools import lru_cache
from importlib import import_module

from ksaudit.errors import KsauditError
from ksaudit.oslogs.base import MAX_PREAMBLE_LINES

MODULES = (
    "probe", "journald_json", "journald_export", "journald_short", "networkmanager",
    "wireguard_go", "wg_quick", "syslog_rfc5424", "syslog_rfc3339", "syslog_rfc3164",
    "openvpn", "macos_ndjson", "macos_json", "macos_text", "macos_syslog", "evtx_log", "logcat",
)
HEAD_BYTES = 8192
MIN_SCORE = 0.3


FORMAT_API = ("NAME", "DESCRIPTION", "sniff", "parse")


@lru_cache(maxsize=1)
def formats():
    """{name: module} for every registered format, in sniffing priority order.

    A listed module that fails to import, or lacks part of the format API, is a
    KsauditError naming it: a format must never silently drop out of ``auto``."""
    out = {}
    for mod_name in MODULES:
        where = f"ksaudit.oslogs.{mod_name}"
        try:
            mod = import_module(where)
        except Exception as exc:  # any import failure: a broken installation, said once
            raise KsauditError(f"log format module {where} cannot be loaded "
                               f"({type(exc).__name__}: {exc}); reinstall ksaudit or "
                               f"fix the module") from exc
        missing = [a for a in FORMAT_API if not hasattr(mod, a)]
        if missing:
            raise KsauditError(f"log format module {where} lacks {', '.join(missing)}")
        if mod.NAME in out:
            raise KsauditError(f"log format modules {out[mod.NAME].__name__} and {where} "
                               f"both call themselves {mod.NAME!r}")
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
    """(name, score, skipped) of the best-matching format; KsauditError when none fits.

    The format is decided on the lines some format can parse: when no format
    fits the first lines, up to ``MAX_PREAMBLE_LINES`` leading lines (a banner,
    a harness's header) are skipped, one at a time, until one does; ``skipped``
    says how many (the fewest for the sniffer; parsing then finds the whole
    preamble, ``base.ParseContext.settle``).
    """
    if not head.strip():
        raise KsauditError(f"{path}: is empty (no line to tell the log format from); "
                           f"declare its format to read it as a log without events")
    binary = is_binary(head)
    for skipped, rest in _tails(head):
        if skipped and binary:
            break                                   # binary data has no preamble
        ranked = scores(rest)
        if ranked and ranked[0][0] >= MIN_SCORE:
            return ranked[0][1], ranked[0][0], skipped
    if binary:
        first = f"binary data starting with bytes {head[:8].hex(' ')}"
    else:
        line = head.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
        first = f"first line: {line[:80]!r}"
    raise KsauditError(f"{path}: cannot tell the log format ({first}); no format fits "
                       f"its first lines, nor those after a preamble of up to "
                       f"{MAX_PREAMBLE_LINES} lines; declare one of: {', '.join(formats())}")


def score_of(mod, head):
    """(score, skipped): ``mod``'s sniff score on ``head``, skipping a preamble
    (as ``sniff_format`` does) when the first lines do not fit."""
    first = None
    for skipped, rest in _tails(head):
        try:
            score = float(mod.sniff(rest))
        except Exception:  # a sniffer must never break reading
            score = 0.0
        if score >= MIN_SCORE:
            return score, skipped
        first = score if first is None else first
    return first or 0.0, 0


def _tails(head):
    """(lines skipped, rest of head) for 0..MAX_PREAMBLE_LINES skipped lines, while
    a complete line is left after them."""
    yield 0, head
    pos = 0
    for skipped in range(1, MAX_PREAMBLE_LINES + 1):
        nl = head.find(b"\n", pos)
        if nl < 0:
            return
        pos = nl + 1
        rest = head[pos:]
        if not rest.strip() or (b"\n" not in rest and len(head) >= HEAD_BYTES):
            return          # nothing, or only a line the head cut, is left
        yield skipped, rest


def is_binary(head):
    """True when a large share (a tenth or more) of ``head`` is NUL bytes or not
    UTF-8; UTF-8 text of any script (box-drawing banners, accents) is not binary."""
    if not head:
        return False
    body = head[:-4] if len(head) >= HEAD_BYTES else head    # a cut last character
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd") + text.count("\x00")
    return bad * 10 >= max(len(text), 1)
