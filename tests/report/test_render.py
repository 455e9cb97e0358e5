"""The render machinery on stand-in notebooks: outputs, exit codes, determinism,
atomicity, the ERROR path and the Dask scheduler."""

import json
import subprocess
import sys

import nbformat
import pytest

from ksaudit.errors import KsauditError
from ksaudit.report import render, summary



def _render(build, out, notebooks, **kw):
    rep, summ = notebooks
    return render.render_build(build, out, jobs=2, report_notebook=rep, summary_notebook=summ,
                               progress=False, **kw)


def _snapshot(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, standin_notebooks, scenario_maker):
    make_scenario = scenario_maker
    base = tmp_path_factory.mktemp("render")
    build = base / "captures" / "b1"
    make_scenario(build, "alpha", "PASS", note="<script>alert('x')</script> \"q\" " + "y" * 5000)
    make_scenario(build, "beta", "FAIL", reasons=[{"code": "leak", "message": "leak | to <b>x</b>",
                                                   "episode": 1}],
                  episodes=[{"id": 1, "verdict": "FAIL", "leaked_frames": 3, "window_us": 1234}])
    out = base / "reports" / "b1"
    first = _render(build, out, standin_notebooks)
    return build, out, first, _snapshot(out)


def test_writes_every_output(rendered):
    build, out, first, snap = rendered
    assert sorted(snap) == ["CHANGELOG-snippet.md", "SHA256SUMS", "alpha.html", "alpha.ipynb",
                            "beta.html", "beta.ipynb", "index.html", "index.ipynb", "summary.json"]
    doc = json.loads(snap["summary.json"])
    assert [s["name"] for s in doc["scenarios"]] == ["alpha", "beta"]
    assert [s["verdict"] for s in doc["scenarios"]] == ["PASS", "FAIL"]
    assert doc["scenarios"][1]["analysis"]["episodes"][0]["window_us"] == 1234
    paths = [i["path"] for i in doc["scenarios"][0]["inputs"]]
    assert paths == ["alpha/device.pcap", "alpha/scenario.yaml", "alpha/standin.json"]
    assert not (out.parent / ".b1.partial").exists() and not (out.parent / ".b1.old").exists()


def test_published_notebooks_name_final_paths_not_the_staging_directory(rendered):
    """Rendering runs in a hidden .<build>.partial directory; the .ipynb files a reader
    gets show the parameters as they are after the move (and no scratch file)."""
    build, out, _, snap = rendered
    for name in ("alpha.ipynb", "beta.ipynb", "index.ipynb"):
        assert b".partial" not in snap[name] and b".scratch" not in snap[name], name
    index = nbformat.reads(snap["index.ipynb"].decode(), as_version=4)
    # no trend asked for: the trend looks at this build only, not at -o's parent
    expected = {"reports_dir": str(out), "reports_root": str(out), "build": "b1"}
    assert index.metadata.papermill.parameters == expected
    injected = next(c for c in index.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f'reports_dir = "{out}"' in injected.source
    alpha = nbformat.reads(snap["alpha.ipynb"].decode(), as_version=4)
    assert alpha.metadata.papermill.parameters == {"scenario_dir": str(build / "alpha"),
                                                   "analysis_json": ""}


def test_an_unwritable_output_is_one_clear_error(tmp_path, standin_notebooks, scenario_maker):
    build = scenario_maker(tmp_path / "captures" / "b6", "one", "PASS").parent
    (tmp_path / "afile").write_text("x")
    with pytest.raises(KsauditError, match="afile/b6: cannot write the output here"):
        _render(build, tmp_path / "afile" / "b6", standin_notebooks)


def test_exit_code_is_fail_when_any_scenario_fails(rendered):
    assert rendered[2].exit_code == 1
    assert rendered[2].summary["verdict"] == "FAIL"


def test_snippet_has_verdicts_windows_links_and_input_hashes(rendered):
    build, out, _, snap, *_ = rendered
    text = snap["CHANGELOG-snippet.md"].decode()
    assert "build b1: **FAIL**" in text
    assert "[report](beta.html)" in text and "1,234" in text
    sha = json.loads(snap["summary.json"])["scenarios"][0]["inputs"][0]["sha256"]
    assert f"{sha}  alpha/device.pcap" in text
    assert "leak \\| to &lt;b&gt;x&lt;/b&gt;" in text  # Markdown table stays one row, no HTML


def test_hostile_text_is_escaped_in_html(rendered):
    html = rendered[3]["alpha.html"].decode()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert('x')&lt;/script&gt; \"q\"" in html
    assert "more characters]" in html  # the 5000-character line was cut


def test_sha256sums_lists_every_file(rendered):
    snap = rendered[3]
    listed = [line.split("  ", 1)[1] for line in snap["SHA256SUMS"].decode().splitlines()]
    assert listed == sorted(n for n in snap if n != "SHA256SUMS")


def test_cli_render_verify_and_a_failed_render_replacing_a_pass(tmp_path, standin_notebooks,
                                                               scenario_maker):
    make_scenario = scenario_maker
    build = tmp_path / "captures" / "b3"
    make_scenario(build, "one", "PASS")
    make_scenario(build, "two", "INCONCLUSIVE", reasons=[{"code": "dropped_packets",
                                                          "message": "3 dropped", "episode": None}])
    out = tmp_path / "reports" / "b3"
    rep, summ = standin_notebooks
    cmd = [sys.executable, "-m", "ksaudit.cli", "render", str(build), "-o", str(out), "--jobs", "2",
           "--report-notebook", str(rep), "--summary-notebook", str(summ)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 3, proc.stderr
    assert "two  INCONCLUSIVE" in proc.stdout and "Traceback" not in proc.stderr
    assert "render b3" in proc.stderr and "3/3" in proc.stderr  # progress: 2 scenarios + summary

    def verify(*extra):
        return subprocess.run([sys.executable, "-m", "ksaudit.cli", "verify", str(out), *extra],
                              capture_output=True, text=True, timeout=60)

    ok = verify("--captures", str(build))
    assert ok.returncode == 0, ok.stdout
    page = out / "one.html"
    data = bytearray(page.read_bytes())
    data[len(data) // 2] ^= 0x01
    page.write_bytes(bytes(data))
    bad = verify()
    assert bad.returncode == 1
    assert bad.stdout.startswith(f"CHANGED: {page} (sha256 ") and bad.stdout.count("CHANGED") == 1
    data[len(data) // 2] ^= 0x01
    page.write_bytes(bytes(data))
    assert verify().returncode == 0
    evidence = build / "two" / "device.pcap"
    raw = bytearray(evidence.read_bytes())
    raw[100] ^= 0x80
    evidence.write_bytes(bytes(raw))
    bad = verify("--captures", str(build))
    assert bad.returncode == 1
    assert [line.split(" (")[0] for line in bad.stdout.splitlines()[:-1]] == [f"CHANGED: {evidence}"]
    (build / "two" / "extra.log").write_text("x")
    assert "UNLISTED: " + str(build / "two" / "extra.log") in verify("--captures", str(build)).stdout

    # the PASS scenario now fails to render: ERROR with its error, the old PASS page gone
    assert 'class="ks-verdict ks-PASS"' in page.read_text()
    make_scenario(build, "one", "PASS", **{"raise": "kernel-side <failure>"})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 3, proc.stderr
    assert "one  ERROR  ValueError: kernel-side <failure>" in proc.stdout
    entry = json.loads((out / "summary.json").read_text())["scenarios"][0]
    assert (entry["name"], entry["verdict"], entry["error"]) == \
        ("one", "ERROR", "ValueError: kernel-side <failure>")
    html = page.read_text()
    assert 'class="ks-verdict ks-ERROR"' in html and 'class="ks-verdict ks-PASS"' not in html
    assert "&lt;failure&gt;" in html
    assert "ValueError" in (out / "one.ipynb").read_text()  # the traceback is kept
    assert sorted(p.name for p in out.parent.iterdir()) == ["b3"]  # no partial, old build or lock left


def test_dask_scheduler_renders_the_same_reports(tmp_path, rendered, standin_notebooks):
    """The same build on a Dask LocalCluster gives the same bytes as local processes
    (and rendering into another directory changes nothing but the notebooks' paths)."""
    distributed = pytest.importorskip("distributed")
    build, out, local, snap = rendered
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = _render(build, tmp_path / "dask" / "b1", standin_notebooks,
                         scheduler=cluster.scheduler_address)
    assert remote.exit_code == local.exit_code == 1
    for name in ("alpha.html", "beta.html", "index.html", "summary.json"):
        assert (tmp_path / "dask" / "b1" / name).read_bytes() == snap[name], name


def test_overall_verdict_and_exit_codes():
    assert summary.exit_code(["PASS", "PASS"]) == 0
    assert summary.exit_code(["PASS", "INCONCLUSIVE"]) == 3
    assert summary.exit_code(["ERROR", "PASS"]) == 3
    assert summary.exit_code(["ERROR", "FAIL", "INCONCLUSIVE"]) == 1
    assert summary.exit_code([]) == 3


def test_bad_build_directories_are_one_line_errors(tmp_path):
    with pytest.raises(KsauditError, match="not a directory"):
        render.find_scenarios(tmp_path / "nope")
    with pytest.raises(KsauditError, match="no scenario directories"):
        render.find_scenarios(tmp_path)


def test_refuses_to_replace_a_directory_that_is_not_a_build(tmp_path, standin_notebooks, scenario_maker):
    build = scenario_maker(tmp_path / "captures" / "b5", "one", "PASS").parent
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    with pytest.raises(KsauditError, match="refusing to replace"):
        _render(build, home, standin_notebooks)
    assert (home / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["captures", "home"]  # no partial left


def test_a_failing_build_summary_makes_the_build_error(tmp_path, notebook_maker):
    """The index notebook raising cannot leave a PASS build: ERROR, exit 3, an error page."""
    broken = notebook_maker(tmp_path / "broken.ipynb", [
        ('reports_dir: str = ""  # help: x\nreports_root: str = ""  # help: x\nbuild: str = ""  # help: x',
         ["parameters"]),
        ("raise RuntimeError('summary <broke>')", [])])
    work, out = tmp_path / ".b7.partial", tmp_path / "b7"
    (work / render.SCRATCH).mkdir(parents=True)
    doc = summary.build_summary("b7", [{"name": "one", "verdict": "PASS", "error": None,
                                        "report": "one.html", "notebook": "one.ipynb",
                                        "inputs": [], "analysis": None}])
    assert doc["exit_code"] == 0
    (work / "summary.json").write_text(summary.dumps(doc))
    error = render.render_index({"work_dir": str(work), "out_dir": str(out), "build": "b7",
                                 "notebook": str(broken), "cwd": str(tmp_path),
                                 "reports_root": str(work), "published_root": str(out)})
    render._index_error(work, "b7", doc, error)
    assert (doc["verdict"], doc["exit_code"]) == ("ERROR", 3)
    assert doc["summary_error"] == "RuntimeError: summary <broke>"
    assert json.loads((work / "summary.json").read_text())["verdict"] == "ERROR"
    assert "summary &lt;broke&gt;" in (work / "index.html").read_text()


def test_snippet_links_reports_under_base_url(rendered):
    doc = json.loads(rendered[3]["summary.json"])
    text = summary.changelog_snippet(doc, base_url="https://qa.example/b1/")
    assert "[report](https://qa.example/b1/alpha.html)" in text


def test_a_crashed_worker_leaves_an_error_page_and_its_input_hashes(tmp_path, scenario_maker):
    """The render's own process writes the ERROR page the worker could not, and hashes
    the scenario's inputs, so the build it publishes still verifies with its evidence."""
    build = tmp_path / "captures" / "b"
    scenario = scenario_maker(build, "s1", "PASS")
    work = tmp_path / "work"
    work.mkdir()
    entry = render._worker_failed(RuntimeError("boom <b>"), {
        "name": "s1", "scenario_dir": str(scenario), "work_dir": str(work), "build_root": str(build)})
    assert entry["verdict"] == "ERROR" and entry["error"] == "render worker failed: RuntimeError: boom <b>"
    assert entry["inputs"] == render.input_hashes(scenario, build) and len(entry["inputs"]) == 3
    page = (work / "s1.html").read_text(encoding="utf-8")
    assert 'class="ks-verdict ks-ERROR"' in page and "boom &lt;b&gt;" in page
