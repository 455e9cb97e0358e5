"""Open a scenario's evidence read-only: captures, logs, their SHA-256 and facts.

A declared capture or log that is missing is not an error but a reason for
INCONCLUSIVE (the caller decides); an unreadable one is the project error.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ksaudit.digest import file_sha256
from ksaudit.errors import KsauditError


@dataclass(frozen=True)
class CaptureData:
    file: str                 # relative to the scenario directory
    vantage: str
    clock: str
    table: pd.DataFrame | None
    facts: dict               # first_ns, last_ns, dropped, truncated, truncated_at_ns, ...
    missing: bool


def _exists(path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _input(sc, rel, role):
    size, digest = file_sha256(sc.path(rel))
    return {"path": rel, "role": role, "bytes": size, "sha256": digest}


def load_captures(sc, inputs: list) -> list:
    """Read every declared capture; append their input records to `inputs`."""
    from ksaudit import read_packets
    out = []
    for spec in sc.captures:
        path = sc.path(spec.file)
        if not _exists(path):
            out.append(CaptureData(spec.file, spec.vantage, spec.clock, None,
                                   _facts(spec, {}, True), True))
            continue
        inputs.append(_input(sc, spec.file, "capture"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # truncation is reported as a reason
            table = read_packets(str(path), ifindex=sc.ifindex or None)
        info = dict(table.attrs)
        table.attrs = {}
        if spec.interface:
            table["iface"] = table["iface"].cat.rename_categories(
                lambda c: spec.interface if str(c).startswith("#") else c)
        facts = _facts(spec, info, False)
        facts["interfaces"] = sorted(str(x) for x in table["iface"].unique())
        out.append(CaptureData(spec.file, spec.vantage, spec.clock, table, facts, False))
    return out


def _facts(spec, info, missing) -> dict:
    file_drops = info.get("dropped")
    declared = spec.dropped
    drops = [d for d in (file_drops, declared) if d is not None]
    ifaces = sorted({str(i.get("name") or f"#{i.get('id')}") for i in info.get("interfaces", ())})
    return {
        "file": spec.file, "vantage": spec.vantage, "clock": spec.clock,
        "missing": missing, "packets": int(info.get("packets", 0) or 0),
        "first_ns": info.get("first_ns"), "last_ns": info.get("last_ns"),
        "dropped": max(drops) if drops else None,
        "dropped_declared": declared, "dropped_in_file": file_drops,
        "truncated": bool(info.get("truncated", False)),
        "truncated_at_ns": info.get("truncated_after_ns"),
        "truncated_at_byte": info.get("truncated_at"),
        "link_types": [int(x) for x in info.get("link_types", ())],
        "interfaces": ifaces,
        # the rest of what read_packets learned about the file, as it said it
        "format": info.get("format"), "snaplen": info.get("snaplen"),
        "interface_blocks": [_plain(i) for i in info.get("interfaces", ())],
        "warnings": [str(w) for w in info.get("warnings", ())],
    }


def _plain(value):
    """A read_packets fact as JSON-safe plain data (numpy scalars to int/float)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _tunnel_device_rules(sc) -> list:
    """NetworkManager state changes of the scenario's own tunnel devices are tunnel
    events whatever the devices are called (the shipped rules know only the usual
    tunnel names: wg*, tun*, utun*, ppp* ...)."""
    names = "|".join(re.escape(n) for n in sc.tunnel_interfaces)
    if not names:
        return []
    return [{"name": "scenario-tunnel-down", "kind": "tunnel_down", "iface_regex": names,
             "regex": r"device \((?P<iface>[^)]+)\): state change: activated -> \w+"},
            {"name": "scenario-tunnel-up", "kind": "tunnel_up", "iface_regex": names,
             "regex": r"device \((?P<iface>[^)]+)\): state change: \w+ -> activated"}]


def load_logs(sc, inputs: list):
    """(events, per-log facts, missing files) for the declared logs, on source clocks.

    The facts are the ``oslogs.LogFacts`` that ``read_events`` made, in the order
    of ``sc.logs``, unchanged but for ``file``: relative to the scenario directory,
    as scenario.yaml names it.  A missing log gets ``LogFacts.missing_file``.
    """
    from ksaudit import read_events
    from ksaudit.oslogs import LogFacts
    present, facts, missing = [], {}, []
    for spec in sc.logs:
        path = sc.path(spec.file)
        if not _exists(path):
            missing.append(spec.file)
            facts[spec.file] = LogFacts.missing_file(spec.file, spec.format, spec.clock,
                                                     spec.timezone)
            continue
        inputs.append(_input(sc, spec.file, "log"))
        present.append((spec, path))
    if not present:
        return None, [facts[s.file] for s in sc.logs], missing
    entries = [{"file": str(p), "format": s.format, "clock": s.clock, "timezone": s.timezone,
                "year": s.year}
               for s, p in present]
    events = read_events(entries, rules=list(sc.rules) + _tunnel_device_rules(sc) or None)
    by_path = {str(p): s.file for s, p in present}
    for fact in events.attrs.get("files", ()):
        rel = by_path[fact.file]
        facts[rel] = replace(fact, file=rel)
    events.attrs = {}
    events["file"] = events["file"].astype(str).map(lambda v: by_path.get(v, v)).astype("category")
    return events, [facts[s.file] for s in sc.logs], missing


def combine(captures: list) -> pd.DataFrame:
    """One packet table over all present captures, with a ``capture`` column
    (index into `captures`); string columns as categoricals with one shared
    category set so codes compare across captures."""
    tables = [(i, c.table) for i, c in enumerate(captures) if c.table is not None]
    if not tables:
        raise KsauditError("no capture of the scenario could be read")
    if len(tables) == 1:
        i, t = tables[0]
        t = t.copy(deep=False)
        t["capture"] = np.full(len(t), i, np.int16)
        return t
    cats = {}
    for col in ("iface", "direction", "src", "dst"):
        cats[col] = pd.api.types.union_categoricals(
            [t[col].astype("category") for _, t in tables]).categories
    parts = []
    for i, t in tables:
        t = t.copy(deep=False)
        for col, c in cats.items():
            t[col] = t[col].astype("category").cat.set_categories(c)
        t["capture"] = np.full(len(t), i, np.int16)
        parts.append(t)
    return pd.concat(parts, ignore_index=True)
