"""A plain install works: the wheel, installed into a fresh virtual environment, renders
the sample build from a directory outside the checkout (notebooks, templates and CSS
come from the package data, nothing from the checkout)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "captures" / "samples" / "2026.11.0-lab"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (REPO / "pyproject.toml").is_file() or not SAMPLES.is_dir(),
                                 reason="needs the checkout (pyproject.toml, the sample build)")]


def _run(cmd, cwd, env, timeout=900):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc


def _ok(proc):
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_the_wheel_renders_the_sample_build_from_outside_the_checkout(tmp_path):
    # the wheel is built from what the package declares only: pyproject, README and lib/
    # (pip builds it in an isolated environment, fetching setuptools and wheel from the
    # package index, as `.ci/install` fetches the dependencies)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "lib", src / "lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV"))}
    env.update(PYTHONNOUSERSITE="1", JUPYTER_DATA_DIR=str(tmp_path / "jupyter-user"),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    _ok(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", src, "-w", tmp_path / "dist"],
             tmp_path, env))
    wheel, = (tmp_path / "dist").glob("ksaudit-*.whl")

    # the dependencies are those .ci/install put into this interpreter: reused, not
    # downloaded again (--no-index), so what is tested is the wheel's own content
    venv = tmp_path / "venv"
    _ok(_run([sys.executable, "-m", "venv", "--system-site-packages", venv], tmp_path, env))
    python, ksaudit = venv / "bin" / "python", venv / "bin" / "ksaudit"
    _ok(_run([python, "-m", "pip", "install", "-q", "--no-index", wheel], tmp_path, env))
    _ok(_run([python, "-m", "ipykernel", "install", "--sys-prefix"], tmp_path, env))
    where = _ok(_run([python, "-c", "import json, ksaudit, jupyter_client.kernelspec as k; "
                      "print(json.dumps([ksaudit.__file__, "
                      "k.KernelSpecManager().get_kernel_spec('python3').argv[0]]))"], tmp_path, env))
    package, kernel = json.loads(where.stdout)
    assert Path(package).is_relative_to(venv) and Path(kernel) == python, (package, kernel)

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    render = _run([ksaudit, "render", SAMPLES, "-o", "out", "-q"], cwd, env)
    assert render.returncode == 1, render.stdout + render.stderr  # the sample build has FAILs
    assert "ERROR" not in render.stdout and not render.stderr, render.stdout + render.stderr
    out = cwd / "out"
    scenarios = sorted(p.name for p in SAMPLES.iterdir() if (p / "scenario.yaml").is_file())
    assert (out / "index.html").is_file()
    for name in scenarios:
        assert 'class="ks-verdict ks-' in (out / f"{name}.html").read_text(encoding="utf-8"), name
    verify = _ok(_run([ksaudit, "verify", "out", "--captures", SAMPLES], cwd, env))
    assert verify.stdout.startswith("verify: OK")
