"""JUnit XML of a build's verdicts, for CI systems (Jenkins, GitLab) to show and gate on.

One ``<testsuite>`` per scenario holding one ``<testcase>`` named after it (classname:
the build), so each scenario's figures fit in its suite's ``<properties>`` (the schema
Jenkins' xUnit plugin validates against, junit-10.xsd, allows properties on a suite
only).  PASS: no child but the attachments.  FAIL: ``<failure type="FAIL">`` with every
reason and each leaking episode's window.  INCONCLUSIVE: ``<error type="INCONCLUSIVE">``
with its reasons -- never ``<skipped>``, which Jenkins and GitLab count as neither
failed nor errored, so a gate on the report would go green on evidence that proves
nothing (fail closed; docs/exports.md).  ERROR (a report that could not be rendered):
``<error type="ERROR">``.  The report (or the analysis document) is named in the
testcase's ``<system-out>`` as ``[[ATTACHMENT|path]]``, one per line, the form both
the Jenkins JUnit Attachments plugin and GitLab read.
"""

import re
import xml.etree.ElementTree as ET

from ksaudit.report.summary import overall_verdict, worst_window_us
from ksaudit.safeio import unsafe_name

# characters XML 1.0 cannot hold, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value) -> str:
    """`value` as text an XML 1.0 document can hold (forbidden characters as \\xNN)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def _properties(entry) -> dict:
    """The figures of one scenario, as name -> text (None values left out)."""
    a = entry.get("analysis") or {}
    episodes = a.get("episodes") or []
    steady = a.get("steady_state") or {}
    figures = {
        "verdict": entry["verdict"],
        "reasons": ",".join(dict.fromkeys(r["code"] for r in a.get("reasons") or [])) or None,
        "platform": (a.get("scenario") or {}).get("platform"),
        "event": (a.get("scenario") or {}).get("scenario"),
        "episodes": len(episodes) if a else None,
        "leaked_frames": sum(ep["leaked_frames"] for ep in episodes) if a else None,
        "leaked_bytes": sum(ep["leaked_bytes"] for ep in episodes) if a else None,
        "reply_frames": sum(ep["reply_frames"] for ep in episodes) if a else None,
        "steady_state_leaked_frames": steady.get("leaked_frames"),
        "worst_window_us": worst_window_us(a),
        "probes_attempted": sum(ep["probes"]["attempted"] for ep in episodes) if a else None,
        "probes_leaked": sum(ep["probes"]["leaked"] for ep in episodes) if a else None,
        "ksaudit_version": a.get("ksaudit_version"),
    }
    return {k: str(v) for k, v in figures.items() if v is not None}


def _episode_line(ep) -> str:
    window = ("no leak" if ep["window_us"] is None else
              f"window {ep['window_us']} us ({ep['first_leak_ns']} .. {ep['last_leak_ns']} ns)")
    return (f"episode {ep['id']} {ep['verdict']}: {ep['leaked_frames']} leaked frame(s), "
            f"{ep['leaked_bytes']} bytes to {', '.join(ep['destinations']) or 'none'}; {window}; "
            f"probes {ep['probes']['leaked']}/{ep['probes']['attempted']} leaked")


def _details(entry) -> tuple:
    """(message, text) of a scenario's failure or error element."""
    if entry["verdict"] == "ERROR":
        error = str(entry.get("error") or "the report could not be rendered")
        return " ".join(error.split()), error
    a = entry.get("analysis") or {}
    reasons = [f"{r['code']}: " + (f"episode {r['episode']}: " if r.get("episode") else "")
               + r["message"] for r in a.get("reasons") or []]
    lines = reasons + [_episode_line(ep) for ep in a.get("episodes") or []]
    steady = a.get("steady_state") or {}
    if steady.get("leaked_frames"):
        lines.append(f"steady state: {steady['leaked_frames']} leaked frame(s), "
                     f"{steady['leaked_bytes']} bytes to {', '.join(steady['destinations'])}")
    return (reasons[0] if reasons else entry["verdict"]), "\n".join(lines)


def _testsuite(parent, build, entry):
    verdict = entry["verdict"]
    failed, errored = verdict == "FAIL", verdict in ("INCONCLUSIVE", "ERROR")
    suite = ET.SubElement(parent, "testsuite", {
        "name": _text(entry["name"]), "tests": "1", "failures": str(int(failed)),
        "errors": str(int(errored)), "skipped": "0"})
    props = ET.SubElement(suite, "properties")
    for name, value in _properties(entry).items():
        ET.SubElement(props, "property", {"name": name, "value": _text(value)})
    case = ET.SubElement(suite, "testcase", {"classname": _text(build),
                                             "name": _text(entry["name"])})
    if failed or errored:
        message, text = _details(entry)
        node = ET.SubElement(case, "failure" if failed else "error",
                             {"type": verdict, "message": _text(message)})
        node.text = _text(text)
    paths = [str(p) for p in entry.get("attachments") or () if _attachable(p)]
    if paths:
        ET.SubElement(case, "system-out").text = "".join(
            f"\n[[ATTACHMENT|{_text(p)}]]" for p in paths) + "\n"


def _attachable(path) -> bool:
    """A path that fits one ``[[ATTACHMENT|...]]`` line (no line break, no ``]]``, no ``|``)."""
    text = str(path)
    return bool(text) and unsafe_name(text) is None and "]]" not in text and "|" not in text


def junit_xml(build, scenarios) -> bytes:
    """The JUnit XML document of a build (see the module docstring).

    Parameters
    ----------
    build : str
        The build's name: the testcases' classname and the testsuites' name.
    scenarios : list of dict
        One per scenario: ``name``, ``verdict`` (PASS / FAIL / INCONCLUSIVE / ERROR),
        ``error`` (text or None), ``analysis`` (the analysis document,
        docs/analysis-json.md, or None), ``attachments`` (paths to name, as CI
        resolves them: relative to the workspace or absolute).

    Returns
    -------
    bytes
        UTF-8 XML with a declaration; the same input gives the same bytes.
    """
    verdicts = [s["verdict"] for s in scenarios]
    root = ET.Element("testsuites", {
        "name": _text(f"ksaudit {build}: {overall_verdict(verdicts)}"),
        "tests": str(len(scenarios)), "failures": str(verdicts.count("FAIL")),
        "errors": str(sum(v in ("INCONCLUSIVE", "ERROR") for v in verdicts))})
    for entry in sorted(scenarios, key=lambda s: s["name"]):
        _testsuite(root, build, entry)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
