"""The build summary (index.html): verdict matrix, worst windows and the trend across
builds, from summary.json documents."""

import re
import shlex
from pathlib import Path

from ksaudit.errors import KsauditError
from ksaudit.report.html import Html, chip, esc, facts, href, num, table
from ksaudit.report.summary import (build_summary, leaked_frames, load_json, overall_verdict,
                                    worst_window_us)


def load_build(reports_dir):
    """The summary.json document of a rendered build (KsauditError if absent or unreadable)."""
    path = Path(reports_dir) / "summary.json"
    if not path.is_file():
        raise KsauditError(f"{path}: no such file (not a build rendered by `ksaudit render`)")
    doc = load_json(path)
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("ksaudit.summary/"):
        raise KsauditError(f"{Path(reports_dir) / 'summary.json'}: not a ksaudit build summary")
    return doc


def analyse_build(captures):
    """A summary document made now by analysing every scenario of `captures` (no rendering).

    Used when the build summary notebook runs on its own, without a rendered build.
    """
    import ksaudit
    from ksaudit.report.render import find_scenarios, input_hashes

    entries = []
    for scenario in find_scenarios(captures):
        entry = {"name": scenario.name, "report": f"{scenario.name}.html",
                 "notebook": f"{scenario.name}.ipynb",
                 "inputs": input_hashes(scenario, Path(captures)), "error": None}
        try:
            entry["analysis"] = ksaudit.analyze(scenario).to_dict()
            entry["verdict"] = entry["analysis"]["verdict"]
        except KsauditError as exc:
            entry.update(analysis=None, verdict="ERROR", error=str(exc))
        entries.append(entry)
    return build_summary(Path(captures).name, entries)


def _natural(text):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def other_builds(reports_root, exclude):
    """The other rendered builds under `reports_root`, in natural build order.

    A build there is a directory holding a summary.json; it is shown only when
    `ksaudit verify` finds it whole and unchanged, so an edited or half-copied build
    cannot put a history into this build's trend.

    Parameters
    ----------
    reports_root : str or Path
        The directory holding reports/<build> directories.
    exclude : str
        The current build's directory name (its summary is passed in separately).

    Returns
    -------
    (list of dict, list of (str, str))
        The summary.json documents, and (directory name, why) for each build left out.
    """
    from ksaudit.report.verify import require_whole

    root = Path(reports_root)
    if not root.is_dir():
        return [], []
    docs, skipped = [], []
    for d in sorted(root.iterdir(), key=lambda p: _natural(p.name)):
        if d.name.startswith(".") or d.name == exclude or not (d / "summary.json").is_file():
            continue
        try:
            require_whole(d)
            docs.append(load_build(d))
        except KsauditError as exc:  # named below the root: the index shows no machine's paths
            skipped.append((d.name, str(exc).replace(f"{root}/", "")))
    return docs, skipped


def skipped_note(skipped):
    """Which builds beside this one the trend leaves out, and why ("" when none)."""
    if not skipped:
        return Html("")
    items = "".join(f"<li>{esc(name)}: {esc(why)}</li>" for name, why in skipped)
    return Html(f'<p class="ks-note">Left out of the trend:</p><ul class="ks-note">{items}</ul>')


def banner(doc):
    """The build's overall verdict with counts per verdict."""
    counts = doc.get("counts") or {}
    parts = ", ".join(f"{counts[v]} {v}" for v in ("PASS", "FAIL", "INCONCLUSIVE", "ERROR")
                      if counts.get(v))
    verdict = doc.get("verdict") or overall_verdict(s["verdict"] for s in doc["scenarios"])
    return Html(f"<h1>Build {esc(doc.get('build'))}</h1>"
                f'<div class="ks-verdict ks-{esc(verdict)}"><span class="ks-verdict-word">'
                f'{esc(verdict)}</span><span class="ks-verdict-what">{esc(len(doc["scenarios"]))} '
                f"scenario(s): {esc(parts)}</span></div>")


def scenario_table(doc):
    """One row per scenario: link to its report, platform, event, verdict, figures, reasons."""
    rows, classes = [], []
    for s in doc["scenarios"]:
        a = s.get("analysis") or {}
        sc = a.get("scenario") or {}
        eps = a.get("episodes") or []
        reasons = sorted({r.get("code", "") for r in a.get("reasons") or []})
        res = [e.get("detection_resolution_us") for e in eps if e.get("detection_resolution_us") is not None]
        rows.append([Html(f'<a href="{href(s["report"])}">{esc(s["name"])}</a>'),
                     sc.get("platform", "–"), sc.get("scenario", "–"), chip(s["verdict"]),
                     num(len(eps)) if a else "–",
                     num(leaked_frames(a)),
                     num(worst_window_us(a)), num(max(res)) if res else "–",
                     s.get("error") or ", ".join(reasons)])
        classes.append("ks-leak" if s["verdict"] == "FAIL" else "")
    return table(["Scenario", "Platform", "Event", "Verdict", "Episodes", "Leaked frames",
                  "Worst window µs", "Detection resolution µs", "Reasons"], rows,
                 numeric=["Episodes", "Leaked frames", "Worst window µs", "Detection resolution µs"],
                 row_classes=classes)


def verdict_matrix(doc):
    """Event (rows) × platform (columns); each cell lists its scenarios with their verdicts."""
    cells, platforms, events = {}, set(), set()
    for s in doc["scenarios"]:
        sc = (s.get("analysis") or {}).get("scenario") or {}
        key = (sc.get("scenario", "unknown"), sc.get("platform", "unknown"))
        platforms.add(key[1])
        events.add(key[0])
        cells.setdefault(key, []).append(s)
    platforms, events = sorted(platforms), sorted(events)
    rows = []
    for ev in events:
        row = [ev]
        for pf in platforms:
            row.append(Html("".join(
                f'<span class="ks-matrix-item">{chip(s["verdict"])} '
                f'<a href="{href(s["report"])}">{esc(s["name"])}</a></span>'
                for s in cells.get((ev, pf), []))))
        rows.append(row)
    return table(["Event"] + platforms, rows)


def worst_windows(doc, limit=10):
    """The widest exposure windows of the build, one row per leaking episode."""
    found = []
    for s in doc["scenarios"]:
        for ep in (s.get("analysis") or {}).get("episodes") or []:
            if ep.get("leaked_frames"):
                found.append((int(ep.get("window_us") or 0), s, ep))
    found.sort(key=lambda t: (-t[0], t[1]["name"], t[2].get("id", 0)))
    rows = [[Html(f'<a href="{href(s["report"])}">{esc(s["name"])}</a>'), ep.get("id"),
             num(w), num(ep.get("leaked_frames")), num(ep.get("time_to_first_leak_us")),
             ", ".join(map(str, (ep.get("destinations") or [])[:5]))]
            for w, s, ep in found[:limit]]
    return table(["Scenario", "Episode", "Window µs", "Leaked frames", "First leak after µs",
                  "Destinations"], rows, numeric=["Episode", "Window µs", "Leaked frames",
                                                  "First leak after µs"],
                 row_classes=["ks-leak"] * len(rows), empty="no episode leaked in this build")


def trend_rows(docs):
    """[{build, scenario, window_us, verdict}] over summary documents in build order."""
    return [{"build": d.get("build"), "scenario": s["name"], "verdict": s["verdict"],
             "window_us": worst_window_us(s.get("analysis"))}
            for d in docs for s in d.get("scenarios", [])]


def trend_table(rows):
    """Scenario (rows) × build (columns): verdict and worst window per build."""
    builds = list(dict.fromkeys(r["build"] for r in rows))
    by = {(r["scenario"], r["build"]): r for r in rows}
    out = []
    for scenario in sorted({r["scenario"] for r in rows}):
        line = [scenario]
        for b in builds:
            r = by.get((scenario, b))
            line.append(Html("–") if r is None else
                        Html(f'{chip(r["verdict"])} {num(r["window_us"]) if r["window_us"] is not None else ""}'))
        out.append(line)
    return table(["Scenario"] + builds, out, empty="no builds")


def build_facts(doc):
    """Provenance of the build summary: version, inputs, where to re-check them."""
    inputs = [i for s in doc["scenarios"] for i in s.get("inputs") or []]
    return facts([("ksaudit", doc.get("ksaudit_version", "?")),
                   ("Input files", f"{len(inputs):,} ({sum(i.get('bytes', 0) for i in inputs):,} bytes); "
                                   "SHA-256 of each in summary.json and CHANGELOG-snippet.md"),
                   ("Re-check", "ksaudit verify REPORTS --captures "
                                f"{shlex.quote('CAPTURES/' + str(doc.get('build')))} "
                                "(REPORTS: this directory; CAPTURES: where the evidence is)"),
                   ("Files", Html('<a href="summary.json">summary.json</a>, '
                                  '<a href="CHANGELOG-snippet.md">CHANGELOG-snippet.md</a>, '
                                  '<a href="SHA256SUMS">SHA256SUMS</a>'))])
