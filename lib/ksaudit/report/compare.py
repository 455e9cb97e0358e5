"""Compare two rendered builds scenario by scenario: what changed, and whether B got worse.

`compare_builds` is what ``ksaudit compare A B`` runs.  Both builds are checked with
`verify_build` first (a build that does not verify is refused, never compared), then
their summary.json documents are matched by scenario name.  docs/compare.md says
what "worse" means; `judge` is that definition.
"""

from dataclasses import dataclass
from pathlib import Path

from ksaudit.errors import KsauditError
from ksaudit.report.buildviews import load_build
from ksaudit.report.html import Html, chip, esc, facts, num, table
from ksaudit.report.summary import leaked_frames, standalone_page, worst_window_us


@dataclass(frozen=True)
class Figures:
    """What a build says about one scenario: verdict, worst window (µs, None when nothing
    leaked), leaked frames and reason codes (None and () without an analysis)."""
    verdict: str
    window_us: int | None
    leaked_frames: int | None
    reasons: tuple


@dataclass(frozen=True)
class Change:
    """One scenario in A and B (None where a build lacks it); `worse` and `better` say why."""
    name: str
    a: Figures | None
    b: Figures | None
    worse: tuple
    better: tuple

    @property
    def status(self):
        """WORSE, BETTER, SAME, CHANGED (neither: a window grown within the tolerance) or NEW."""
        if self.worse:
            return "WORSE"
        if self.a is None:
            return "NEW"
        if self.better:
            return "BETTER"
        return "SAME" if self.a == self.b else "CHANGED"


@dataclass(frozen=True)
class Comparison:
    """Both builds (path, summary document) and one Change per scenario, by name."""
    path_a: Path
    path_b: Path
    summary_a: dict
    summary_b: dict
    changes: tuple

    @property
    def worse(self):
        return [c for c in self.changes if c.worse]

    @property
    def exit_code(self):
        """1 when any scenario got worse (the regression gate), 0 otherwise."""
        return 1 if self.worse else 0


def figures(entry):
    """The `Figures` of one scenario entry of summary.json."""
    analysis = entry.get("analysis")
    codes = sorted({r.get("code", "") for r in (analysis or {}).get("reasons") or []})
    return Figures(entry["verdict"], worst_window_us(analysis), leaked_frames(analysis), tuple(codes))


def judge(a, b, window_tolerance_us=0):
    """(worse, better): why B is worse than A for one scenario, and what improved.

    B is never worse when it PASSes (it proves there was no leak).  Otherwise B is
    worse when it lacks the scenario, when its verdict differs from A's (a FAIL, an
    INCONCLUSIVE or an ERROR that A did not have: B no longer proves what A proved, or
    no longer shows A's leak gone), when its worst window is longer by more than
    `window_tolerance_us`, when it leaked more frames, or when it gives a reason A
    did not.
    """
    if b is None:
        return ("missing in B",), ()
    if a is None:
        return (), ()
    worse, better = [], []
    if b.verdict != a.verdict:
        (better if b.verdict == "PASS" else worse).append(f"verdict {a.verdict} -> {b.verdict}")
    if b.leaked_frames is not None:  # an ERROR has no analysis: no figures to compare
        window_a, window_b = a.window_us or 0, b.window_us or 0
        if window_b > window_a + window_tolerance_us:
            worse.append(f"worst window {num(a.window_us)} -> {num(b.window_us)} µs")
        elif window_b < window_a:
            better.append(f"worst window {num(a.window_us)} -> {num(b.window_us)} µs")
        frames_a, frames_b = a.leaked_frames or 0, b.leaked_frames
        if frames_b != frames_a:
            (worse if frames_b > frames_a else better).append(
                f"leaked frames {frames_a:,} -> {frames_b:,}")
        if new := sorted(set(b.reasons) - set(a.reasons)):
            worse.append("new reason " + ", ".join(new))
        if gone := sorted(set(a.reasons) - set(b.reasons)):
            better.append("reason gone " + ", ".join(gone))
    if b.verdict == "PASS":
        return (), tuple(better)
    return tuple(worse), tuple(better)


def verified(reports, label):
    """The summary.json of a rendered build that `ksaudit verify` finds whole; else
    KsauditError in one line starting with `label` (a tampered build is never compared)."""
    from ksaudit.report.verify import require_whole

    try:
        require_whole(reports)
    except KsauditError as exc:
        raise KsauditError(f"{label} {exc}") from None
    return load_build(reports)


def compare_builds(reports_a, reports_b, window_tolerance_us=0):
    """Verify two rendered builds and compare them scenario by scenario.

    Parameters
    ----------
    reports_a, reports_b : str or Path
        reports/<build> directories written by ``ksaudit render``; A is the baseline.
    window_tolerance_us : int
        A worst window counts as longer only when it grew by more than this many µs.

    Returns
    -------
    Comparison

    Raises
    ------
    KsauditError
        A and B are one directory, a directory is not a rendered build, or does not verify.
    """
    if isinstance(window_tolerance_us, bool) or not isinstance(window_tolerance_us, int) \
            or window_tolerance_us < 0:
        raise KsauditError(f"window tolerance {window_tolerance_us!r}: expected a non-negative integer (µs)")
    path_a, path_b = Path(reports_a), Path(reports_b)
    if path_a.resolve() == path_b.resolve():
        # a gate given one directory twice (an unset variable, a wrong symlink) compares
        # nothing and would always say "not worse"
        raise KsauditError(f"A {reports_a} and B {reports_b} are the same directory: "
                           "give the baseline and the build to judge")
    doc_a, doc_b = verified(path_a, "A"), verified(path_b, "B")
    by_a = {s["name"]: figures(s) for s in doc_a["scenarios"]}
    by_b = {s["name"]: figures(s) for s in doc_b["scenarios"]}
    changes = []
    for name in sorted(set(by_a) | set(by_b)):
        a, b = by_a.get(name), by_b.get(name)
        worse, better = judge(a, b, window_tolerance_us)
        changes.append(Change(name, a, b, worse, better))
    return Comparison(path_a, path_b, doc_a, doc_b, tuple(changes))


def _cell(fig):
    """A build's figures for a scenario as short text: verdict, window, leaked frames."""
    if fig is None:
        return "–"
    text = fig.verdict
    if fig.window_us is not None:
        text += f" {fig.window_us:,} µs"
    if fig.leaked_frames:
        text += f" {fig.leaked_frames:,} fr"
    return text


def _why(change):
    return "; ".join(change.worse or change.better) or ("not in A" if change.a is None else "")


def text_lines(comparison):
    """The comparison as plain text lines (what `ksaudit compare` prints)."""
    from ksaudit.safeio import shown

    c = comparison
    rows = [(shown(ch.name), _cell(ch.a), _cell(ch.b), ch.status, _why(ch)) for ch in c.changes]
    head = ("scenario", f"A {shown(c.summary_a['build'])}", f"B {shown(c.summary_b['build'])}",
            "change", "why")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    lines = ["  ".join(f"{v:<{w}}" for v, w in zip(r[:4], widths)) + ("  " + r[4] if r[4] else "")
             for r in [head] + rows]
    lines.append(f"compare: {len(c.worse)} of {len(c.changes)} scenario(s) worse in B"
                 + (f" ({', '.join(shown(ch.name) for ch in c.worse)})" if c.worse else ""))
    return [line.rstrip() for line in lines]


def html_page(comparison):
    """The comparison as one self-contained HTML page (no script, nothing fetched)."""
    c = comparison
    a, b = c.summary_a, c.summary_b
    gate = "WORSE" if c.worse else "NOT WORSE"
    rows = [[ch.name, chip(ch.a.verdict) if ch.a else "–", num(ch.a.window_us) if ch.a else "–",
             num(ch.a.leaked_frames) if ch.a else "–", chip(ch.b.verdict) if ch.b else "–",
             num(ch.b.window_us) if ch.b else "–", num(ch.b.leaked_frames) if ch.b else "–",
             ch.status, _why(ch)] for ch in c.changes]
    body = Html(
        f"<h1>Build {esc(b['build'])} against {esc(a['build'])}</h1>"
        f'<div class="ks-verdict ks-{"FAIL" if c.worse else "PASS"}"><span class="ks-verdict-word">'
        f'{gate}</span><span class="ks-verdict-what">{len(c.worse)} of {len(c.changes)} '
        f"scenario(s) worse in B</span></div>"
        + facts([("A (baseline)", f"{a['build']}: {a.get('verdict')} ({c.path_a})"),
                 ("B", f"{b['build']}: {b.get('verdict')} ({c.path_b})"),
                 ("Worse means", "see docs/compare.md: B lacks the scenario, or does not PASS and "
                                 "has another verdict, a longer worst window, more leaked frames "
                                 "or a new reason")])
        + table(["Scenario", "A verdict", "A worst window µs", "A leaked frames", "B verdict",
                 "B worst window µs", "B leaked frames", "Change", "Why"], rows,
                numeric=["A worst window µs", "A leaked frames", "B worst window µs", "B leaked frames"],
                row_classes=["ks-leak" if ch.worse else "" for ch in c.changes],
                empty="neither build has a scenario"))
    return standalone_page(f"{b['build']} against {a['build']}: {gate}", body)
