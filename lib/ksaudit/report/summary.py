"""The build-level documents: summary.json, CHANGELOG-snippet.md and the ERROR page."""

import json
import os
import shlex

from ksaudit import __version__
from ksaudit.errors import KsauditError
from ksaudit.report.html import Html, esc, href
from ksaudit.report.resources import CSS_PATH

SCHEMA = "ksaudit.summary/1"
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "ERROR")
EXIT_CODES = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3, "ERROR": 3}


def overall_verdict(verdicts):
    """FAIL if any FAIL; else ERROR, then INCONCLUSIVE, if any; PASS only when all pass.

    An empty build is INCONCLUSIVE: nothing was proven.
    """
    verdicts = list(verdicts)
    for worst in ("FAIL", "ERROR", "INCONCLUSIVE"):
        if worst in verdicts:
            return worst
    return "PASS" if verdicts else "INCONCLUSIVE"


def exit_code(verdicts):
    """The CI gate: 1 if any FAIL, 3 if any INCONCLUSIVE or ERROR and no FAIL, 0 otherwise."""
    return EXIT_CODES[overall_verdict(verdicts)]


def worst_window_us(analysis):
    """The widest exposure window of a scenario's episodes in µs, or None when nothing leaked."""
    if not analysis:
        return None
    windows = [ep.get("window_us") for ep in analysis.get("episodes", [])
               if ep.get("leaked_frames")]
    windows = [w for w in windows if w is not None]
    return max(windows) if windows else None


def leaked_frames(analysis):
    """Frames leaked over every episode of a scenario, or None without an analysis."""
    if not analysis:
        return None
    return sum(ep.get("leaked_frames") or 0 for ep in analysis.get("episodes", []))


def build_summary(build, scenarios, generated=None):
    """The summary.json document.

    Parameters
    ----------
    build : str
        The build's name (the captures directory's name).
    scenarios : list of dict
        One per scenario: name, verdict, error, report, notebook, inputs, analysis.
    generated : str, optional
        An explicit render time; omitted by default so the file is reproducible.

    Returns
    -------
    dict
    """
    verdicts = [s["verdict"] for s in scenarios]
    doc = {
        "schema": SCHEMA,
        "build": build,
        "ksaudit_version": __version__,
        "verdict": overall_verdict(verdicts),
        "exit_code": exit_code(verdicts),
        "counts": {v: verdicts.count(v) for v in VERDICTS},
        "scenarios": sorted(scenarios, key=lambda s: s["name"]),
    }
    if generated:
        doc["generated"] = generated
    return doc


def dumps(doc):
    """Canonical JSON text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _md(text, limit=300):
    """Escape text for a Markdown table cell (no HTML, no pipes, no line breaks)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[:limit] + "…"
    for ch, rep in (("\\", "\\\\"), ("|", "\\|"), ("`", "\\`"), ("*", "\\*"), ("_", "\\_"),
                    ("[", "\\["), ("]", "\\]"), ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(ch, rep)
    return text


def _code(text, limit=80):
    """Text for inside a Markdown code span in a table (backslash escapes do not apply there)."""
    return " ".join(str(text).split())[:limit].replace("`", "'").replace("|", "\\|")


def changelog_snippet(summary, base_url="", reports_label=None, captures_label=None,
                      signed_by=None):
    """The Markdown to attach to a changelog: verdicts, windows, links, input hashes.

    Parameters
    ----------
    summary : dict
        The summary.json document.
    base_url : str
        Prefix for report links (e.g. where the reports are published); relative by default.
    reports_label, captures_label : str, optional
        How to name the reports and captures directories in the re-verification command
        (shell-quoted there).
    signed_by : str, optional
        The signing key's fingerprint when SHA256SUMS is signed: the snippet then says
        how to check the signature.

    Returns
    -------
    str
    """
    from urllib.parse import quote

    lines = [f"### Kill-switch verification: build {_md(summary['build'])}: **{summary['verdict']}**",
             "",
             "| Scenario | Platform | Event | Verdict | Episodes | Leaked frames | Worst window (µs) | Report |",
             "|---|---|---|---|---:|---:|---:|---|"]
    reasons = []
    for s in summary["scenarios"]:
        a = s.get("analysis") or {}
        sc = a.get("scenario") or {}
        episodes = a.get("episodes") or []
        leaked = leaked_frames(a)
        window = worst_window_us(a)
        link = f"[report]({base_url}{quote(s['report'])})"
        lines.append("| " + " | ".join([
            _md(s["name"]), _md(sc.get("platform", "–")), _md(sc.get("scenario", "–")),
            f"**{s['verdict']}**", str(len(episodes)) if a else "–", f"{leaked:,}" if a else "–",
            f"{window:,}" if window is not None else "–", link]) + " |")
        if s.get("error"):
            reasons.append(f"- {_md(s['name'])}: ERROR: {_md(s['error'])}")
        for r in a.get("reasons") or []:
            ep = f" (episode {r['episode']})" if r.get("episode") is not None else ""
            reasons.append(f"- {_md(s['name'])}{ep}: `{_code(r.get('code', ''))}` {_md(r.get('message', ''))}")
    if reasons:
        lines += ["", "Reasons:", *reasons]
    lines += ["", "Evidence (SHA-256 of every input file):", "", "```"]
    for s in summary["scenarios"]:
        for item in s.get("inputs", []):
            lines.append(f"{item['sha256']}  {item['path']}".replace("`", "'"))
    reports = reports_label or "reports/" + summary["build"]
    captures = captures_label or "<captures>/" + summary["build"]
    command = f"ksaudit verify {shlex.quote(reports)} --captures {shlex.quote(captures)}"
    lines += ["```", "", f"Rendered by ksaudit {summary['ksaudit_version']}. Re-check with:", "",
              "```sh", command + (" --key key.pub" if signed_by else ""), "```"]
    if signed_by:
        from ksaudit.report.signing import check_commands

        lines += ["", f"SHA256SUMS is signed (SHA256SUMS.sig, OpenSSH signature, namespace "
                      f"`ksaudit`) by the key {_md(signed_by)}. With the signer's public key "
                      "(`key.pub`, obtained from the signer, not from this report) and OpenSSH "
                      "alone:", "", "```sh", *check_commands(reports), "```"]
    if summary.get("generated"):
        lines.append(f"Generated {summary['generated']}.")
    return "\n".join(lines) + "\n"


def standalone_page(title, body):
    """A self-contained HTML page: the reports' inline stylesheet, `body` (an `Html`
    fragment) in <main>, no script and nothing fetched."""
    css = CSS_PATH.read_text(encoding="utf-8")
    return Html(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"/>\n"
        "<meta content=\"ksaudit\" name=\"generator\"/>\n"
        f"<title>{esc(title)}</title>\n<style type=\"text/css\">\n{css}</style>\n</head>\n"
        f"<body><main>\n{body}\n</main></body>\n</html>\n")


def error_page(name, error, notebook_name=None):
    """A self-contained HTML page for a scenario whose report could not be rendered."""
    nb_line = (f'<p>The partially executed notebook, with the traceback, is '
               f'<a href="{href(notebook_name)}">{esc(notebook_name)}</a>.</p>') if notebook_name else ""
    return standalone_page(f"{name}: ERROR", Html(
        f"<h1>{esc(name)}</h1>\n"
        "<div class=\"ks-verdict ks-ERROR\"><span class=\"ks-verdict-word\">ERROR</span>"
        "<span class=\"ks-verdict-what\">the report could not be rendered; this scenario has no verdict</span>"
        f"<ul><li>{esc(error)}</li></ul></div>\n{nb_line}"))


def load_json(path):
    """Read a JSON document (a regular file); KsauditError naming the file if it is
    missing, not a regular file, or not JSON."""
    from ksaudit.safeio import open_regular

    if not os.path.lexists(path):
        raise KsauditError(f"{path}: not written")
    try:
        with open_regular(path, follow=False) as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise KsauditError(f"{path}: not a JSON document: {' '.join(str(exc).split())}") from None
