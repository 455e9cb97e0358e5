"""`ksaudit compare` and the build index's charts on real renders of two builds beside
each other (b1: a strong kill switch; b2: the same scenario name with no kill switch),
and the definition of "worse" on the figures of single scenarios."""

import io
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ksaudit.errors import KsauditError
from ksaudit.report import buildviews, compare
from ksaudit.report.compare import Figures, judge

SAMPLES = Path(__file__).resolve().parents[2] / "captures" / "samples" / "2026.11.0-lab"
TRIALS = "strong-reconnect-3-trials"


def ksaudit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ksaudit.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """reports/b1 and reports/b2 rendered by the real notebooks, b2 with `--trend` (the
    builds beside it: b1)."""
    if not (SAMPLES / "none-process-kill").is_dir():
        pytest.skip(f"the lab's sample build is not in {SAMPLES}")
    base = tmp_path_factory.mktemp("compare")
    for build, kill in (("b1", "strong-process-kill"), ("b2", "none-process-kill")):
        shutil.copytree(SAMPLES / kill, base / "captures" / build / "kill")
        shutil.copytree(SAMPLES / TRIALS, base / "captures" / build / "trials")
    first = ksaudit("render", "captures/b1", "-o", "reports/b1", "-q", cwd=base)
    second = ksaudit("render", "captures/b2", "-o", "reports/b2", "-q", "--trend", cwd=base)
    assert (first.returncode, second.returncode) == (0, 1), first.stderr + second.stderr
    return base


class _Rows(HTMLParser):
    """Table rows of an HTML page as ([cell texts], row class); and whether a script appears."""

    def __init__(self):
        super().__init__()
        self.rows, self.script, self._row, self._cell = [], False, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.script = True
        elif tag == "tr":
            self._row = ([], dict(attrs).get("class", ""))
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row[0].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None


def _pngs(page):
    import base64
    import re

    from matplotlib.image import imread
    return [imread(io.BytesIO(base64.b64decode(m)))[..., :3]
            for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]


def _red(img):
    return int((np.abs(img - np.array([0xD1, 0x24, 0x2F]) / 255).max(axis=-1) < 0.05).sum())


def test_index_charts_worst_windows_and_the_trend_of_the_builds_beside_it(builds):
    alone = _pngs((builds / "reports" / "b1" / "index.html").read_text(encoding="utf-8"))
    beside = _pngs((builds / "reports" / "b2" / "index.html").read_text(encoding="utf-8"))
    assert len(alone) == 1 and _red(alone[0]) == 0  # b1: the chart only, no FAIL bar, no trend
    assert len(beside) == 2 and _red(beside[0]) > 500  # b2: kill's FAIL bar, then the trend
    page = (builds / "reports" / "b2" / "index.html").read_text(encoding="utf-8")
    parser = _Rows()
    parser.feed(page)
    assert ["Scenario", "b1", "b2"] in [cells for cells, _ in parser.rows]  # the trend table


def test_a_build_that_got_worse_fails_the_gate_and_the_html_says_why(builds):
    proc = ksaudit("compare", "reports/b1", "reports/b2", "--html", "cmp.html", cwd=builds)
    assert proc.returncode == 1 and not proc.stderr, proc.stderr
    kill = next(line for line in proc.stdout.splitlines() if line.startswith("kill "))
    assert "WORSE" in kill and "verdict PASS -> FAIL" in kill and "new reason leak" in kill
    assert proc.stdout.splitlines()[-1] == "compare: 1 of 2 scenario(s) worse in B (kill)"
    parser = _Rows()
    parser.feed((builds / "cmp.html").read_text(encoding="utf-8"))
    assert not parser.script
    rows = {cells[0]: (cells, cls) for cells, cls in parser.rows[1:]}
    assert set(rows) == {"kill", "trials"}
    cells, cls = rows["kill"]
    assert cells[1] == "PASS" and cells[4] == "FAIL" and cells[7] == "WORSE" and cls == "ks-leak"
    assert rows["trials"][0][7] == "SAME" and rows["trials"][1] == ""


def test_identical_and_improved_builds_pass_the_gate(builds, tmp_path):
    same = tmp_path / "b2-copy"
    shutil.copytree(builds / "reports" / "b2", same)
    proc = ksaudit("compare", builds / "reports" / "b2", same)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()[1:-1]
    assert len(lines) == 2 and all(line.endswith("  SAME") for line in lines), proc.stdout
    better = ksaudit("compare", "reports/b2", "reports/b1", cwd=builds)
    assert better.returncode == 0 and "BETTER" in better.stdout, better.stdout


def test_one_directory_as_both_builds_is_refused_before_anything_is_read(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "b")
    for other in (tmp_path / "b", tmp_path / "b" / ".", tmp_path / "link"):
        with pytest.raises(KsauditError, match="are the same directory"):
            compare.compare_builds(tmp_path / "b", other)
    proc = ksaudit("compare", "b", "link/", cwd=tmp_path)
    assert proc.returncode == 2 and not proc.stdout and proc.stderr.count("\n") == 1


def test_a_tampered_build_is_refused_in_one_line(builds, tmp_path):
    tampered = tmp_path / "b2"
    shutil.copytree(builds / "reports" / "b2", tampered)
    with open(tampered / "kill.html", "a", encoding="utf-8") as fh:
        fh.write("<!-- edited -->")
    proc = ksaudit("compare", builds / "reports" / "b1", tampered)
    assert proc.returncode == 2 and not proc.stdout
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ksaudit: error: B ")
    assert "does not verify" in proc.stderr and "CHANGED" in proc.stderr
    inside = ksaudit("compare", "reports/b1", "reports/b2", "--html", "reports/b2/c.html", cwd=builds)
    assert inside.returncode == 2 and "outside the compared build" in inside.stderr
    assert not (builds / "reports" / "b2" / "c.html").exists()


def test_the_trend_leaves_out_a_build_beside_it_that_does_not_verify(builds, tmp_path):
    for name in ("b1", "b3"):
        shutil.copytree(builds / "reports" / ("b1" if name == "b1" else "b2"), tmp_path / name)
    (tmp_path / "b3" / "trials.ipynb").unlink()
    docs, skipped = buildviews.other_builds(tmp_path, "b9")
    assert [d["build"] for d in docs] == ["b1"]
    assert [name for name, _ in skipped] == ["b3"] and "does not verify" in skipped[0][1]
    assert "b3" in buildviews.skipped_note(skipped)


FAIL = Figures("FAIL", 1_000, 10, ("leak",))


@pytest.mark.parametrize("a, b, worse", [
    (FAIL, None, "missing in B"),
    (Figures("PASS", None, 0, ()), FAIL, "verdict PASS -> FAIL"),
    (FAIL, Figures("INCONCLUSIVE", None, 0, ("capture_gap",)), "verdict FAIL -> INCONCLUSIVE"),
    (Figures("INCONCLUSIVE", None, 0, ("no_traffic",)), Figures("ERROR", None, None, ()),
     "verdict INCONCLUSIVE -> ERROR"),
    (FAIL, Figures("FAIL", 1_001, 10, ("leak",)), "worst window 1,000 -> 1,001 µs"),
    (FAIL, Figures("FAIL", 900, 11, ("leak",)), "leaked frames 10 -> 11"),
    (FAIL, Figures("FAIL", 1_000, 10, ("leak", "dropped_packets")), "new reason dropped_packets"),
])
def test_what_counts_as_worse(a, b, worse):
    assert worse in judge(a, b)[0]


@pytest.mark.parametrize("a, b", [
    (FAIL, FAIL),
    (FAIL, Figures("PASS", None, 0, ())),
    (Figures("INCONCLUSIVE", None, 0, ("no_traffic",)), Figures("PASS", None, 0, ())),
    (FAIL, Figures("FAIL", 800, 4, ())),
    (None, FAIL),  # a scenario new in B has nothing to be worse than
])
def test_what_does_not(a, b):
    assert judge(a, b)[0] == ()


def test_an_error_in_b_has_no_figures_to_call_better():
    worse, better = judge(FAIL, Figures("ERROR", None, None, ()))
    assert worse == ("verdict FAIL -> ERROR",) and better == ()


def test_window_tolerance_absorbs_jitter_only():
    assert judge(FAIL, Figures("FAIL", 1_050, 10, ("leak",)), window_tolerance_us=50)[0] == ()
    assert judge(FAIL, Figures("FAIL", 1_051, 10, ("leak",)), window_tolerance_us=50)[0]
    change = compare.Change("x", FAIL, Figures("FAIL", 800, 10, ("leak",)), (), ("worst window",))
    assert change.status == "BETTER"
