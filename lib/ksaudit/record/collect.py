"""What a recording gathers at its end besides the capture: the journal for the run's
span, copies of the named log files, and what the probe log says about each target.

Each returns the scenario.yaml ``logs`` entries it adds and the notes a reader needs
(journald not running, a filter that matched nothing, a target no probe was sent to).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter

JOURNALD_SOCKET = "/run/systemd/journal/socket"
JOURNAL_TIMEOUT_S = 60
JOURNAL_FILE = "logs/journal.json"


def journald_absent():
    """None when journald runs here, else why it does not (a sentence for the notes)."""
    if shutil.which("journalctl") is None:
        return "journalctl is not installed"
    if not os.path.exists(JOURNALD_SOCKET):
        return f"journald is not running ({JOURNALD_SOCKET} does not exist)"
    return None


def journal(root, since_ns, until_ns, units=(), identifiers=()):
    """``journalctl -o json`` for [since, until] (whole seconds, widened outwards) into
    ``logs/journal.json``; returns (logs entries, notes)."""
    absent = journald_absent()
    if absent:
        return [], [f"no journal collected: {absent}; tunnel-down evidence can only come from "
                    "the named logs (--log) and the packets"]
    argv = ["journalctl", "-o", "json", "--no-pager", "--since", f"@{since_ns // 10**9}",
            "--until", f"@{-(-until_ns // 10**9)}"]
    for unit in units:
        argv += ["-u", unit]
    for ident in identifiers:
        argv += ["-t", ident]
    path = os.path.join(root, JOURNAL_FILE)
    try:
        with open(path, "wb") as fh:
            proc = subprocess.run(argv, stdout=fh, stderr=subprocess.PIPE, timeout=JOURNAL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        os.unlink(path)
        return [], [f"no journal collected: {' '.join(argv)}: {exc}"]
    if proc.returncode != 0 or os.path.getsize(path) == 0:
        os.unlink(path)
        err = proc.stderr.decode(errors="replace").strip()[-200:]
        why = f"exit {proc.returncode}: {err}" if proc.returncode else "no line of the span matched"
        return [], [f"no journal collected: {' '.join(argv)}: {why}"]
    return [{"file": JOURNAL_FILE, "format": "journald-json", "clock": "device"}], []


def copy_logs(root, logs, timezone, taken=()):
    """Copy (never move) each named log into ``logs/``; returns (logs entries, notes).  A
    file gone by the end is still declared, so analyze reports it missing (fail closed)."""
    entries, notes, used = [], [], set(taken)
    for log in logs:
        base = os.path.basename(log.path) or "log"
        name, n = f"logs/{base}", 1
        while name in used:
            n += 1
            name = f"logs/{base}.{n}"
        used.add(name)
        try:
            shutil.copyfile(log.path, os.path.join(root, name))
        except OSError as exc:
            notes.append(f"{log.path} could not be copied at the end of the run ({exc.strerror}); "
                         f"declared as {name} all the same")
        entries.append({"file": name, "format": log.format, "clock": "device", "timezone": timezone})
    return entries, notes


def probe_notes(path, targets):
    """Per target: what the attempts returned when not every one was sent (EPERM from a
    firewall, ENETUNREACH without a route), and a target never attempted."""
    results = {t: Counter() for t in targets}
    try:
        with open(path) as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                results.setdefault(rec.get("dst"), Counter())[rec.get("result")] += 1
    except OSError:
        return ["the probe generator wrote no probe log"]
    notes = []
    for target, counts in results.items():
        total = sum(counts.values())
        failed = {k: v for k, v in counts.items() if k != "sent"}
        if not total:
            notes.append(f"probe target {target}: no probe was attempted")
        elif failed:
            shown = ", ".join(f"{k} x{v}" for k, v in sorted(failed.items()))
            notes.append(f"probe target {target}: {sum(failed.values())} of {total} attempts "
                         f"were not sent ({shown})"
                         + ("; none reached the network: is the target reachable?"
                            if not counts["sent"] else ""))
    return notes
