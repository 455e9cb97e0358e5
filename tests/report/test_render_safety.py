"""A render never mixes, loses or misreports a build (issue 10): concurrent renders,
killed and interrupted renders, nested input and output, FIFOs, unsafe names, signed
builds and a shell-quoted re-check command.  Each ends with `ksaudit verify`."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from ksaudit.errors import KsauditError
from ksaudit.report import render

SLOW_S = 8
SLOW_REPORT = [
    ('scenario_dir: str = ""  # help: scenario directory\n'
     'analysis_json: str = ""  # help: where to write the analysis document', ["parameters"]),
    ("import json, pathlib, time\n"
     f"time.sleep({SLOW_S})\n"
     "doc = {'schema': 'ksaudit.analysis/1', 'verdict': 'PASS', 'reasons': [], 'episodes': []}\n"
     "pathlib.Path(analysis_json).write_text(json.dumps(doc))\n"
     "print('stale PASS')", []),
]


def ksaudit(*args, **kw):
    return [sys.executable, "-m", "ksaudit.cli", *map(str, args)]


def run(*args):
    return subprocess.run(ksaudit(*args), capture_output=True, text=True, timeout=240)


def verify(out, captures=None, *extra):
    return run("verify", out, *(["--captures", captures] if captures else []), *extra)


@pytest.fixture(scope="module")
def slow_notebook(tmp_path_factory, notebook_maker):
    return notebook_maker(tmp_path_factory.mktemp("slow") / "slow.ipynb", SLOW_REPORT)


def render_cmd(build, out, notebooks, *extra):
    rep, summ = notebooks
    return ksaudit("render", build, "-o", out, "-q", "--jobs", "2", "--report-notebook", rep,
                   "--summary-notebook", summ, *extra)


def wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def kernel_running(out):
    return any(out.parent.glob(f".{out.name}.partial-*/.scratch/*.partial.ipynb"))


def descendants(pid):
    return psutil.Process(pid).children(recursive=True)


def assert_all_gone(procs, timeout_s=15):
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for p in alive:  # clean up before failing
        p.kill()
    assert alive == [], f"still running: {[p.pid for p in alive]}"


def test_two_concurrent_renders_into_one_output(tmp_path, standin_notebooks, scenario_maker):
    """The second render refuses with one line; the first publishes a whole build from one
    copy of the evidence; both copies' builds verify against their own evidence only."""
    passing, failing = tmp_path / "a" / "b", tmp_path / "c" / "b"
    for name in ("one", "two"):
        scenario_maker(passing, name, "PASS")
        scenario_maker(failing, name, "FAIL")
    out = tmp_path / "reports" / "b"
    first = subprocess.Popen(render_cmd(passing, out, standin_notebooks), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (out.parent / ".b.lock").exists() or first.poll() is not None, 60, "lock")
        second = subprocess.run(render_cmd(failing, out, standin_notebooks), capture_output=True,
                                text=True, timeout=240)
        _, err = first.communicate(timeout=240)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert second.stderr.startswith(f"ksaudit: error: {out}: another ksaudit render (pid ")
    assert second.stderr.count("\n") == 1
    assert verify(out, passing).returncode == 0
    bad = verify(out, failing)
    assert bad.returncode == 1 and "CHANGED" in bad.stdout
    doc = json.loads((out / "summary.json").read_text())
    assert doc["verdict"] == "PASS" and [s["name"] for s in doc["scenarios"]] == ["one", "two"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["b"]
    # and once the first is done, the second renders normally
    proc = subprocess.run(render_cmd(failing, out, standin_notebooks), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 1, proc.stderr
    assert verify(out, failing).returncode == 0


def test_a_sigkilled_render_leaves_no_worker_to_write_into_the_next(
        tmp_path, standin_notebooks, scenario_maker, slow_notebook):
    slow, fast = tmp_path / "slow" / "b", tmp_path / "fast" / "b"
    scenario_maker(slow, "stale", "PASS")
    scenario_maker(fast, "fresh", "FAIL")
    out = tmp_path / "reports" / "b"
    proc = subprocess.Popen(render_cmd(slow, out, (slow_notebook, standin_notebooks[1])),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: kernel_running(out), 90, "the slow kernel")
        time.sleep(1)
        children = descendants(proc.pid)
        assert len(children) >= 2  # a worker and its kernel (plus the resource tracker)
    finally:
        proc.kill()
        proc.wait(30)
    assert_all_gone(children)
    again = subprocess.run(render_cmd(fast, out, standin_notebooks), capture_output=True,
                           text=True, timeout=240)
    assert again.returncode == 1, again.stderr
    time.sleep(SLOW_S / 2)  # when a stale worker would have finished
    assert sorted(p.name for p in out.iterdir()) == [
        "CHANGELOG-snippet.md", "SHA256SUMS", "fresh.html", "fresh.ipynb", "index.html",
        "index.ipynb", "summary.json"]
    assert verify(out, fast).returncode == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["b"]  # stale staging removed


@pytest.mark.parametrize("phase", ["scenarios", "summary"])
def test_ctrl_c_is_one_line_and_leaves_nothing(tmp_path, standin_notebooks, scenario_maker,
                                               slow_notebook, notebook_maker, phase):
    build = tmp_path / "captures" / "b"
    scenario_maker(build, "one", "PASS")
    notebooks = (slow_notebook, standin_notebooks[1]) if phase == "scenarios" else \
        (standin_notebooks[0], notebook_maker(tmp_path / "slow-summary.ipynb", [
            ('reports_dir: str = ""  # help: x\nreports_root: str = ""  # help: x\n'
             'build: str = ""  # help: x', ["parameters"]),
            (f"import time\ntime.sleep({SLOW_S})", [])]))
    out = tmp_path / "reports" / "b"
    # a new session stands for the terminal: Ctrl-C signals its whole foreground group
    proc = subprocess.Popen(render_cmd(build, out, notebooks), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        marker = "index.partial.ipynb" if phase == "summary" else "one.partial.ipynb"
        wait_for(lambda: any(out.parent.glob(f".b.partial-*/.scratch/{marker}")), 90, marker)
        time.sleep(1)
        children = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (proc.returncode, stderr, stdout) == (130, "ksaudit: interrupted\n", "")
    assert_all_gone(children)
    assert list(out.parent.iterdir()) == []  # no staging directory, no lock, no build


def test_sigterm_unwinds_like_ctrl_c(tmp_path, standin_notebooks, scenario_maker, slow_notebook):
    build = tmp_path / "captures" / "b"
    scenario_maker(build, "one", "PASS")
    out = tmp_path / "reports" / "b"
    proc = subprocess.Popen(render_cmd(build, out, (slow_notebook, standin_notebooks[1])),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: kernel_running(out), 90, "the slow kernel")
        children = descendants(proc.pid)
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and "Traceback" not in stderr
    assert_all_gone(children)
    assert list(out.parent.iterdir()) == []


@pytest.fixture(scope="module")
def earlier(tmp_path_factory, standin_notebooks, scenario_maker):
    """A build rendered once, with the project's build summary notebook (the trend)."""
    base = tmp_path_factory.mktemp("earlier")
    build = base / "captures" / "2026.1 'x'"
    scenario_maker(build, "one", "PASS")
    scenario_maker(build, "two", "FAIL", episodes=[{"id": 1, "verdict": "FAIL",
                                                      "leaked_frames": 2, "window_us": 7}])
    out = base / "reports" / build.name
    result = render.render_build(build, out, jobs=2, report_notebook=standin_notebooks[0],
                                 progress=False)
    return build, out, result


def test_captures_inside_an_earlier_render_are_refused(earlier, tmp_path):
    """`ksaudit render out/evidence/bK -o out` must not delete the evidence under out."""
    _, out, _ = earlier
    evidence = out / "evidence" / "bK"
    shutil.copytree(earlier[0], evidence)
    try:
        proc = run("render", evidence, "-o", out, "-q")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
        assert "the output directory holds the evidence directory" in proc.stderr
        assert sorted(p.name for p in evidence.iterdir()) == ["one", "two"]
        assert "UNLISTED" in verify(out).stdout  # the evidence is not part of the build
    finally:
        shutil.rmtree(out / "evidence")
    assert verify(out, earlier[0]).returncode == 0


def test_inputs_and_output_never_nest(earlier, tmp_path, standin_notebooks):
    build, out, _ = earlier
    nb = out / "nb.ipynb"
    for kw, message in [({"out": build / "one" / "r"}, "must not be inside the evidence"),
                        ({"out": build}, "holds the evidence directory"),
                        ({"out": build.parent}, "holds the evidence directory"),
                        ({"out": out, "report_notebook": nb}, "holds the report notebook"),
                        ({"out": out, "sign": out / "key"}, "holds the signing key")]:
        with pytest.raises(KsauditError, match=message):
            render.render_build(build, progress=False, **kw)
    assert verify(out, build).returncode == 0


def test_index_html_does_not_depend_on_what_else_sits_in_the_parent(earlier, tmp_path,
                                                                     standin_notebooks):
    build, out, _ = earlier
    reports = tmp_path / "reports"
    shutil.copytree(out, reports / "2025.9")  # another build next to this one
    doc = json.loads((reports / "2025.9" / "summary.json").read_text())
    doc["build"] = "2025.9"
    (reports / "2025.9" / "summary.json").write_text(json.dumps(doc))
    (reports / "junk").mkdir()
    again = render.render_build(build, reports / build.name, jobs=2, progress=False,
                                report_notebook=standin_notebooks[0])
    assert (again.out_dir / "index.html").read_bytes() == (out / "index.html").read_bytes()
    trend = render.render_build(build, reports / build.name, jobs=2, progress=False,
                                report_notebook=standin_notebooks[0], trend=reports)
    assert "2025.9" in (trend.out_dir / "index.html").read_text()
    assert "2025.9" not in (out / "index.html").read_text()
    assert verify(trend.out_dir, build).returncode == 0


def test_the_recheck_command_is_shell_quoted(earlier):
    build, out, _ = earlier
    text = (out / "CHANGELOG-snippet.md").read_text()
    command = text.split("```sh\n")[1].split("\n```")[0]
    assert command.count("\n") == 0 and "'\"'\"'x'\"'\"'" in command
    argv = shlex.split(command)
    assert argv[:2] == ["ksaudit", "verify"]
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", *argv[1:]], capture_output=True,
                          text=True, timeout=120, cwd=os.getcwd())
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("where, name", [("scenario", "a\nb"), ("scenario", "a\x85b"),
                                         ("scenario", "a\u2028b"), ("file", "x\ny.log"),
                                         ("build", "b\rc")])
def test_names_that_break_line_based_manifests_are_refused(tmp_path, scenario_maker, where,
                                                           name):
    build = tmp_path / "captures" / (name if where == "build" else "b")
    scenario = scenario_maker(build, name if where == "scenario" else "one", "PASS")
    if where == "file":
        (scenario / name).write_text("x")
    proc = run("render", build, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "cannot be listed in a line-based manifest" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_fifos_in_the_evidence_are_errors_never_opened(tmp_path, standin_notebooks, scenario_maker):
    build = tmp_path / "captures" / "b"
    scenario_maker(build, "good", "PASS")
    fifo_yaml = scenario_maker(build, "fifo-yaml", "PASS")
    (fifo_yaml / "scenario.yaml").unlink()
    os.mkfifo(fifo_yaml / "scenario.yaml")
    os.mkfifo(scenario_maker(build, "fifo-log", "PASS") / "log.fifo")
    out = tmp_path / "reports" / "b"
    proc = subprocess.run(render_cmd(build, out, standin_notebooks), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 3, proc.stderr
    lines = {line.split()[0]: line.split(None, 2)[1:] for line in proc.stdout.splitlines()}
    assert lines["fifo-log"][0] == "ERROR" and "log.fifo: a FIFO, not a regular file" in lines["fifo-log"][1]
    assert lines["fifo-yaml"][0] == "ERROR" and "scenario.yaml: a FIFO" in lines["fifo-yaml"][1]
    assert lines["good"] == ["PASS"]
    assert verify(out).returncode == 0


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_render_sign_and_verify_key(tmp_path, standin_notebooks, scenario_maker):
    build = tmp_path / "captures" / "b"
    scenario_maker(build, "one", "PASS")
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   timeout=60)
    out = tmp_path / "reports" / "b"
    proc = subprocess.run(render_cmd(build, out, standin_notebooks, "--sign", key),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    snippet = (out / "CHANGELOG-snippet.md").read_text()
    assert "SHA256SUMS is signed" in snippet and "ssh-keygen -Y verify" in snippet
    assert "--key key.pub" in snippet
    ok = verify(out, build, "--key", f"{key}.pub")
    assert ok.returncode == 0 and "good signature" in ok.stdout, ok.stdout
    bad = run("render", build, "-o", tmp_path / "r2", "--sign", tmp_path / "nokey", "-q")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
