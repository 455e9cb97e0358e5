"""Re-check a rendered build against its manifests, and its evidence against summary.json.

What `verify_build` proves (docs/verify.md says it for readers):

- every file SHA256SUMS lists is present, a regular file, and has that SHA-256;
- nothing else is in the build directory (no extra file, directory, link or FIFO),
  and SHA256SUMS lists exactly the files summary.json names (its reports and
  notebooks, index, snippet);
- with ``captures``: the captures hold exactly the scenarios summary.json records,
  and each scenario directory exactly the input files it records, with those hashes;
- with ``key``: SHA256SUMS.sig is a good OpenSSH signature of SHA256SUMS by that key.

Nothing that is not a regular file is ever opened, and no link is followed.
"""

from dataclasses import dataclass
from pathlib import Path

from ksaudit.errors import KsauditError
from ksaudit.report import hashing
from ksaudit.report.summary import load_json

SUMMARY = "summary.json"
BUILD_FILES = ("summary.json", "index.html", "CHANGELOG-snippet.md")


@dataclass(frozen=True)
class Problem:
    """One thing that does not match: `kind` is CHANGED, MISSING or UNLISTED."""
    kind: str
    path: str
    detail: str = ""


@dataclass(frozen=True)
class Verification:
    """What `verify_build` found.

    checked: files whose SHA-256 was recomputed; problems: tuple of Problem, sorted,
    empty when everything matches; signature: "good" (checked against the key given),
    "unchecked" (SHA256SUMS.sig present, no key given) or "none".
    """
    checked: int
    problems: tuple
    signature: str


def verify_build(reports, captures=None, key=None):
    """Recompute every hash of a rendered build and check that nothing was added or removed.

    Parameters
    ----------
    reports : str or Path
        reports/<build>, as written by `render_build` (holds SHA256SUMS).
    captures : str or Path, optional
        CAPTURES/<build> (or the scenario directory of a one-scenario build): also
        check the set of scenarios and every input file recorded in summary.json.
    key : str or Path, optional
        The signer's OpenSSH public key: SHA256SUMS.sig must be its signature.

    Returns
    -------
    Verification

    Raises
    ------
    KsauditError
        The directories are not what was asked for, or a manifest that matches its
        recorded hash is not one `render_build` writes (then both were rewritten).
    """
    from ksaudit.report import signing

    reports = Path(reports)
    if not reports.is_dir():
        raise KsauditError(f"{reports}: not a directory (expected reports/<build>)")
    sums = hashing.read_sums(reports / hashing.SUMS_NAME)
    entries = dict(hashing.tree_entries(reports))
    allowed = {hashing.SUMS_NAME}
    signed = entries.get(signing.SIG_NAME) == "file"
    if signed:
        allowed.add(signing.SIG_NAME)
    checked, problems = _compare(reports, sums, entries, allowed)
    if key is not None:
        if not signed:
            problems.append(Problem("MISSING", str(reports / signing.SIG_NAME),
                                    "--key given, but the build is not signed"))
        elif (why := signing.check(reports / hashing.SUMS_NAME, reports / signing.SIG_NAME,
                                   key)) is not None:
            problems.append(Problem("CHANGED", str(reports / hashing.SUMS_NAME),
                                    f"{signing.SIG_NAME} is not its signature by {key}: {why}"))
    damaged = {p.path for p in problems}
    if SUMMARY not in sums:
        problems.append(Problem("MISSING", str(reports / SUMMARY), "not listed in SHA256SUMS"))
    elif str(reports / SUMMARY) not in damaged:  # an edited summary.json is not read further
        summary = _summary(reports / SUMMARY)
        named = _named_files(reports / SUMMARY, summary)
        problems += [Problem("MISSING", str(reports / rel), "named in summary.json, not in SHA256SUMS")
                     for rel in sorted(named - set(sums))]
        problems += [Problem("UNLISTED", str(reports / rel), "in SHA256SUMS, not named in summary.json")
                     for rel in sorted(set(sums) - named)]
        if captures is not None:
            n, found = _check_captures(Path(captures), reports / SUMMARY, summary)
            checked += n
            problems += found
    signature = "good" if key is not None and signed else "unchecked" if signed else "none"
    return Verification(checked, tuple(sorted(problems, key=lambda p: (p.path, p.kind))),
                        signature)


def require_whole(reports):
    """KsauditError in one line unless `verify_build(reports)` finds nothing wrong: for
    a reader of a build (compare, a trend) that must not use a tampered one."""
    from ksaudit.safeio import shown

    problems = verify_build(reports).problems
    if problems:
        first = problems[0]
        raise KsauditError(f"{shown(reports)}: does not verify ({len(problems)} problem(s), first: "
                           f"{first.kind} {shown(first.path)}); `ksaudit verify` lists them")


def _summary(path):
    summary = load_json(path)
    scenarios = summary.get("scenarios") if isinstance(summary, dict) else None
    if not isinstance(scenarios, list) or not all(isinstance(s, dict) for s in scenarios):
        raise KsauditError(f"{path}: not a ksaudit build summary (no scenarios list)")
    return summary


def _name(path, i, scenario, field, optional=False):
    value = scenario.get(field)
    if value is None and optional:
        return None
    if not hashing.is_relative(value) or "/" in value:
        raise KsauditError(f"{path}: scenario {i}: {field} is not a file name: {str(value)[:80]!r}")
    return value


def _named_files(path, summary):
    """Every file of the build directory summary.json accounts for (SHA256SUMS aside)."""
    named = set(BUILD_FILES)
    if not summary.get("summary_error"):
        named.add("index.ipynb")
    for i, s in enumerate(summary["scenarios"], 1):
        named.add(_name(path, i, s, "report"))
        if (nb := _name(path, i, s, "notebook", optional=True)) is not None:
            named.add(nb)
    return named


def recorded_inputs(path, summary=None):
    """`{scenario name: {path relative to the build: sha256}}` recorded in a summary.json.

    Raises KsauditError naming the file and the entry when the document is not one
    `render_build` wrote (an edited summary.json must not crash or widen the check).
    """
    summary = _summary(path) if summary is None else summary
    expected = {}
    for i, scenario in enumerate(summary["scenarios"], 1):
        name = _name(path, i, scenario, "name")
        if name in expected:
            raise KsauditError(f"{path}: scenario {i}: {name!r} is listed twice")
        inputs = scenario.get("inputs")
        if not isinstance(inputs, list):
            raise KsauditError(f"{path}: scenario {i}: no inputs list")
        expected[name] = {}
        for j, item in enumerate(inputs, 1):
            rel = item.get("path") if isinstance(item, dict) else None
            digest = item.get("sha256") if isinstance(item, dict) else None
            if not hashing.is_relative(rel) or not rel.startswith(f"{name}/") \
                    or not hashing.is_sha256(digest):
                raise KsauditError(f"{path}: scenario {i}, input {j}: not a path inside "
                                   f"{name}/ with a SHA-256: {str(item)[:80]!r}")
            expected[name][rel] = digest
    return expected


def _check_captures(captures, summary_path, summary):
    if not captures.is_dir():
        raise KsauditError(f"{captures}: not a directory (expected CAPTURES/<build>)")
    recorded = recorded_inputs(summary_path, summary)
    if (captures / "scenario.yaml").exists() or (captures / "scenario.yaml").is_symlink():
        root, present = captures.parent, {captures.name}  # a build of one scenario
    else:
        root = captures
        present = {p.name for p in captures.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and ((p / "scenario.yaml").exists() or (p / "scenario.yaml").is_symlink())}
    problems = [Problem("UNLISTED", str(root / n), "a scenario directory summary.json does not record")
                for n in sorted(present - set(recorded))]
    problems += [Problem("MISSING", str(root / n), "a scenario directory summary.json records")
                 for n in sorted(set(recorded) - present)]
    entries, expected = {}, {}
    for name in sorted(set(recorded) & present):
        entries[name] = "dir"
        entries.update({f"{name}/{rel}": kind for rel, kind in hashing.tree_entries(root / name)})
        expected.update(recorded[name])
    checked, found = _compare(root, expected, entries, allowed=set(entries) & set(recorded))
    return checked, problems + found


def _compare(root, expected, entries, allowed=()):
    """Hash every expected file; (files hashed, problems), anything else present UNLISTED."""
    problems, checked = [], 0
    for rel, digest in sorted(expected.items()):
        kind = entries.get(rel)
        if kind is None:
            problems.append(Problem("MISSING", str(root / rel)))
        elif kind != "file":
            problems.append(Problem("CHANGED", str(root / rel), f"{_kind(kind)}, not a regular file"))
        else:
            checked += 1
            if (actual := hashing.sha256_file(root / rel)) != digest:
                problems.append(Problem("CHANGED", str(root / rel),
                                        f"sha256 {actual}, recorded {digest}"))
    parents = {"/".join(rel.split("/")[:i]) for rel in expected for i in range(1, rel.count("/") + 1)}
    for rel, kind in sorted(entries.items()):
        if rel not in expected and rel not in allowed and not (kind == "dir" and rel in parents):
            problems.append(Problem("UNLISTED", str(root / rel), f"{_kind(kind)}, not in the recorded hashes"))
    return checked, problems


def _kind(kind):
    return {"file": "a file", "dir": "a directory"}.get(kind, kind)
