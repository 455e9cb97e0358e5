"""Recognition: a rule table (data) says what a log line means.

A rule is a mapping::

    name: nm-tunnel-deactivated          # required, shown in the `rule` column
    kind: tunnel_down                    # required, one of schema.EVENT_KINDS
    regex: 'device \\((?P<iface>[^)]+)\\): state change: activated -> \\w+'
                                         # required, searched in the message
    format: [journald-json, rfc3164]     # optional: format name(s), globs allowed
                                         # (`source` is accepted as a synonym)
    identifier: NetworkManager           # optional: regex matching the whole
                                         # identifier (syslog tag, process,
                                         # EVTX provider, logcat tag)
    iface_regex: 'wg.*'                  # optional: the captured iface must match
    iface: wg0                           # optional: fixed iface when no group

The named group ``iface`` (if any) gives the interface.  Regexes should use the
syntax RE2 and Python share (no look-arounds, no back-references); they run
column-wise through pyarrow, with Python ``re`` as the fallback.  The first
matching rule wins; user rules come before the shipped table (rules.yaml).
Events a parser already classified (probe logs, EVTX sleep/wake pairs) are
left alone.
"""

import fnmatch
import io
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from ksaudit.errors import KsauditError
from ksaudit.safeio import open_regular
from ksaudit.oslogs.base import kind_codes
from ksaudit.schema import EVENT_KINDS

RULES_FILE = Path(__file__).with_name("rules.yaml")
_KEYS = {"name", "kind", "regex", "format", "source", "identifier", "iface_regex", "iface"}
_NAMED = re.compile(r"\(\?P?<([A-Za-z_]\w*)>")


def validate_rule(rule, where="rule"):
    """Check one rule mapping; return a normalised copy (KsauditError when wrong)."""
    if not isinstance(rule, dict):
        raise KsauditError(f"{where}: a rule must be a mapping, got {type(rule).__name__}")
    unknown = set(rule) - _KEYS
    if unknown:
        raise KsauditError(f"{where}: unknown rule key(s) {sorted(unknown)} "
                           f"(allowed: {sorted(_KEYS)})")
    for key in ("name", "kind", "regex"):
        if not isinstance(rule.get(key), str) or not rule[key]:
            raise KsauditError(f"{where}: rule needs a non-empty text {key!r}")
    if rule["kind"] not in EVENT_KINDS:
        raise KsauditError(f"{where} {rule['name']!r}: kind {rule['kind']!r} is not one of "
                           f"{', '.join(EVENT_KINDS)}")
    out = dict(rule)
    fmt = out.pop("source", None) if "format" not in out else out.get("format")
    out.pop("source", None)
    if isinstance(fmt, str):
        fmt = [fmt]
    out["format"] = list(fmt) if fmt else None
    for key in ("regex", "identifier", "iface_regex"):
        if out.get(key) is not None:
            try:
                re.compile(out[key])
            except re.error as exc:
                raise KsauditError(f"{where} {rule['name']!r}: bad {key} {out[key]!r}: {exc}") from exc
    return out


@lru_cache(maxsize=1)
def shipped_rules():
    """The shipped rule table (rules.yaml), validated, as a tuple of dicts."""
    with open(RULES_FILE, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or []
    return tuple(validate_rule(r, f"{RULES_FILE.name} rule {i + 1}") for i, r in enumerate(data))


def load_rules(rules=None):
    """User rules (list of mappings, or a YAML file path) followed by the shipped ones."""
    user = []
    if isinstance(rules, (str, Path)):
        rules = _read_rules_file(rules)
    if rules:
        if not isinstance(rules, (list, tuple)):
            raise KsauditError("rules must be a list of rule mappings")
        user = [validate_rule(r, f"user rule {i + 1}") for i, r in enumerate(rules)]
    return user + list(shipped_rules())


def _read_rules_file(path):
    """The rule list in the YAML file ``path`` (KsauditError: unreadable, not YAML)."""
    try:
        raw = open_regular(path)
    except KsauditError as exc:
        raise KsauditError(f"rules file {exc}") from None      # names what the file was for
    try:
        with raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
            return yaml.safe_load(fh) or []
    except OSError as exc:
        raise KsauditError(f"{path}: cannot read rules: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise KsauditError(f"{path}: rules file is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KsauditError(f"{path}:{where} rules file is not valid YAML: {problem}") from exc


def _match(arr, pattern):
    """Boolean numpy mask: ``pattern`` searched in each string of ``arr``."""
    try:
        return pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        rx = re.compile(pattern)
        return np.fromiter((rx.search(s) is not None for s in arr.to_pylist()), bool, len(arr))


def _extract_iface(arr, pattern):
    """The ``iface`` group of ``pattern`` in each (matching) string, "" when unset."""
    names = [n for n in _NAMED.findall(pattern)]
    if len(names) == len(set(names)):
        try:
            got = pc.extract_regex(arr, pattern).field("iface")
            return pc.fill_null(got, "").to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    rx = re.compile(pattern)
    out = []
    for s in arr.to_pylist():
        m = rx.search(s)
        out.append((m.group("iface") or "") if m else "")
    return out


def _strip_groups(pattern):
    return _NAMED.sub("(?:", pattern)


def recognise(events, fmt_name, rules, messages=None):
    """Set ``kind``, ``iface`` and ``rule`` in place on one file's events.

    ``events`` is a DataFrame or {column: array} with text columns message,
    ident, iface, kind ("" = unclassified) and rule (missing ones count as "");
    ``messages`` may pass the message column as a pyarrow string array.  Rows
    no rule matches get kind ``other``.
    """
    n = len(events["ts_ns"])

    def text(key):
        if key in events:
            return np.array(events[key], dtype=object)
        return np.full(n, "", dtype=object)

    kind, iface, rule_col = text("kind"), text("iface"), text("rule")
    todo = kind == ""
    active = [r for r in rules
              if r["format"] is None or any(fnmatch.fnmatchcase(fmt_name, f) for f in r["format"])]
    if n and todo.any() and active:
        msg_all = (messages if messages is not None
                   else pa.array(text("message"), pa.string()))
        ident_all = pa.array(text("ident"), pa.string())
        # one combined pass finds the few rows any rule could match
        combined = "|".join(f"(?:{_strip_groups(r['regex'])})" for r in active)
        cand = np.flatnonzero(todo & _match(msg_all, combined))
        msg = msg_all.take(pa.array(cand))
        ident = ident_all.take(pa.array(cand))
        for rule in active:
            if not len(cand):
                break
            hit = _match(msg, rule["regex"])
            if rule.get("identifier") and hit.any():
                hit &= _match(ident, f"^(?:{rule['identifier']})$")
            if not hit.any():
                continue
            names = [""] * int(hit.sum())
            if "iface" in _NAMED.findall(rule["regex"]):
                names = _extract_iface(msg.filter(pa.array(hit)), rule["regex"])
            if rule.get("iface_regex"):
                ok = re.compile(rule["iface_regex"])
                keep = np.array([ok.fullmatch(x) is not None for x in names], bool)
                hit[np.flatnonzero(hit)[~keep]] = False
                names = [x for x, k in zip(names, keep) if k]
                if not hit.any():
                    continue
            rows = cand[hit]
            kind[rows] = rule["kind"]
            rule_col[rows] = rule["name"]
            fixed = rule.get("iface") or ""
            for r, name in zip(rows, names):
                if name or fixed:
                    iface[r] = name or fixed
            rest = pa.array(~hit)
            cand, msg, ident = cand[~hit], msg.filter(rest), ident.filter(rest)
    codes = kind_codes(kind)
    kind[kind == ""] = "other"
    events["kind"] = kind
    if isinstance(events, dict):
        events["kind_code"] = codes
    events["iface"] = iface
    events["rule"] = rule_col
    return events
