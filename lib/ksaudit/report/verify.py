"""Re-check a rendered build: every report file against SHA256SUMS and, given the
captures, every input file against the hashes recorded in summary.json."""

from dataclasses import dataclass
from pathlib import Path

from ksaudit.errors import KsauditError
from ksaudit.report import hashing
from ksaudit.report.summary import load_json


@dataclass(frozen=True)
class Problem:
    """One file that does not match: `kind` is CHANGED, MISSING or UNLISTED."""
    kind: str
    path: str
    detail: str = ""


def verify_build(reports, captures=None):
    """Recompute every hash of a rendered build.

    Parameters
    ----------
    reports : str or Path
        reports/<build>, as written by `render_build` (holds SHA256SUMS).
    captures : str or Path, optional
        CAPTURES/<build>: also check every input file listed in summary.json.

    Returns
    -------
    (int, list of Problem)
        How many files were checked, and what did not match (empty when all do).
    """
    reports = Path(reports)
    if not reports.is_dir():
        raise KsauditError(f"{reports}: not a directory (expected reports/<build>)")
    sums = hashing.read_sums(reports / hashing.SUMS_NAME)
    problems = _compare(reports, sums, reports, exclude=(hashing.SUMS_NAME,))
    checked = len(sums)
    if captures is not None:
        captures = Path(captures)
        if not captures.is_dir():
            raise KsauditError(f"{captures}: not a directory (expected CAPTURES/<build>)")
        expected = recorded_inputs(reports / "summary.json")
        if (captures / "scenario.yaml").is_file():
            captures = captures.parent  # a build of one scenario: paths start with its name
        # files added to a scenario's evidence count too; other directories are not ours
        scenario_dirs = sorted({Path(p).parts[0] for p in expected})
        problems += _compare(captures, expected, captures, subdirs=scenario_dirs)
        checked += len(expected)
    return checked, problems


def recorded_inputs(path):
    """`{path relative to the build: sha256}` of every input recorded in a summary.json.

    Raises KsauditError naming the file and the entry when the document is not one
    `render_build` wrote (an edited summary.json must not crash or widen the check).
    """
    summary = load_json(path)
    scenarios = summary.get("scenarios") if isinstance(summary, dict) else None
    if not isinstance(scenarios, list):
        raise KsauditError(f"{path}: not a ksaudit build summary (no scenarios list)")
    expected = {}
    for i, scenario in enumerate(scenarios, 1):
        inputs = scenario.get("inputs") if isinstance(scenario, dict) else None
        if not isinstance(inputs, list):
            raise KsauditError(f"{path}: scenario {i}: no inputs list")
        for j, item in enumerate(inputs, 1):
            rel = item.get("path") if isinstance(item, dict) else None
            digest = item.get("sha256") if isinstance(item, dict) else None
            if not isinstance(rel, str) or not rel or rel.startswith("/") \
                    or ".." in Path(rel).parts or not hashing.is_sha256(digest):
                raise KsauditError(f"{path}: scenario {i}, input {j}: not a relative path "
                                   f"with a SHA-256: {str(item)[:80]!r}")
            expected[rel] = digest
    return expected


def _compare(root, expected, shown_root, exclude=(), subdirs=None):
    problems = []
    for rel, digest in sorted(expected.items()):
        path = root / rel
        if not path.is_file():
            problems.append(Problem("MISSING", str(shown_root / rel)))
        elif (actual := hashing.sha256_file(path)) != digest:
            problems.append(Problem("CHANGED", str(shown_root / rel),
                                    f"sha256 {actual}, recorded {digest}"))
    present = []
    for sub in (subdirs if subdirs is not None else [""]):
        if (root / sub).is_dir():
            present += [f"{sub}/{r}" if sub else r for r in hashing.list_files(root / sub)]
    for rel in sorted(set(present) - set(expected) - set(exclude)):
        problems.append(Problem("UNLISTED", str(shown_root / rel), "not in the recorded hashes"))
    return problems
