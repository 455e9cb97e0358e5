"""Papermill executes each shipped notebook; the notebooks are stored clean and
document their parameters."""

import json
import re
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest

from ksaudit.errors import KsauditError
from ksaudit.report import execute, explore, hashing
from ksaudit.report.render import NOTEBOOKS_DIR

NOTEBOOKS = ["leak_report.ipynb", "build_summary.ipynb", "explore_capture.ipynb"]
SAMPLES = Path(__file__).resolve().parents[2] / "captures" / "samples" / "2026.11.0-lab"
needs_samples = pytest.mark.skipif(not (SAMPLES / "none-process-kill").is_dir(),
                                   reason="the lab's sample build is not in captures/samples")


def _outputs_text(nb):
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_without_outputs_and_documents_parameters(name):
    nb = nbformat.read(str(NOTEBOOKS_DIR / name), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    declared = [line.split(":")[0] for line in tagged[0].source.splitlines() if line.strip()]
    inspected = papermill.inspect_notebook(str(NOTEBOOKS_DIR / name))
    assert list(inspected) == declared  # every parameter parsed, none lost to a stray "="
    assert all(p["help"] and p["inferred_type_name"] in ("str", "int") for p in inspected.values())


def test_the_checkout_notebooks_are_links_to_the_shipped_ones():
    """notebooks/ (what JupyterLab users open in a checkout) holds links to the package's
    notebooks, never copies that could drift from what `ksaudit render` runs."""
    top = Path(__file__).resolve().parents[2] / "notebooks"
    if not top.is_dir():
        pytest.skip("not a checkout")
    assert sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)
    assert sorted(p.name for p in top.glob("*.ipynb")) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        assert (top / name).is_symlink(), f"notebooks/{name} is a copy, not a link"
        assert (top / name).resolve() == (NOTEBOOKS_DIR / name).resolve()


@needs_samples
def test_leak_report_runs_with_its_defaults():
    nb = execute.execute_notebook(NOTEBOOKS_DIR / "leak_report.ipynb", {})
    text = _outputs_text(nb)
    assert "none-process-kill" in text and 'class="ks-verdict ks-' in text
    assert sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) >= 2


@needs_samples
def test_build_summary_runs_with_its_defaults():
    """No parameters: reports/2026.11.0-lab when rendered, else (a fresh clone, CI) the
    bundled sample build analysed on the spot."""
    nb = execute.execute_notebook(NOTEBOOKS_DIR / "build_summary.ipynb", {})
    text = _outputs_text(nb)
    assert 'class="ks-verdict ks-FAIL"' in text and "2026.11.0-lab" in text
    for name in sorted(p.name for p in SAMPLES.iterdir() if (p / "scenario.yaml").is_file()):
        assert f'href="{name}.html"' in text, name


@needs_samples
def test_explore_capture_zooms_a_scenario_to_microseconds():
    nb = execute.execute_notebook(NOTEBOOKS_DIR / "explore_capture.ipynb",
                                  {"zoom_start_us": -3000, "zoom_end_us": 5000})
    text = _outputs_text(nb)
    assert "match the filter" in text and "µs from origin" in text
    assert "<td>device.pcap</td><td>wlan0</td><td>leak</td>" in text  # counts name the capture
    offsets = [float(v.replace(",", "")) for v in re.findall(r'<td class="num">(-?[\d,]+\.\d{3})</td></tr>', text)]
    assert offsets and all(-3000 <= v <= 5000 for v in offsets)  # only frames in the zoom window
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@needs_samples
def test_explore_capture_filters_a_bare_capture():
    pcap = SAMPLES / "none-process-kill" / "external.pcap"
    nb = execute.execute_notebook(NOTEBOOKS_DIR / "explore_capture.ipynb",
                                  {"path": str(pcap), "filter_query": "dport == 33434", "max_rows": 5})
    text = _outputs_text(nb)
    assert "external.pcap:" in text
    assert "5 of" in text and "matching frames shown" in text


def test_bad_filter_is_one_clear_error():
    import pandas as pd

    with pytest.raises(KsauditError, match="filter 'no_such_column == 1'"):
        explore.filter_packets(pd.DataFrame({"a": [1]}), "no_such_column == 1")


def test_build_summary_shows_trend_across_builds(sample_render, tmp_path):
    root = tmp_path / "reports"
    current = root / "2026.11.0-lab"
    shutil.copytree(sample_render["out"], current)
    older = root / "2026.10.2"  # a whole build beside it: shown
    shutil.copytree(current, older)
    doc = json.loads((older / "summary.json").read_text())
    doc["build"] = "2026.10.2"
    (older / "summary.json").write_text(json.dumps(doc))
    hashing.write_sums(older)
    (root / "2026.9.0").mkdir()  # a summary.json without its build: left out, and said so
    (root / "2026.9.0" / "summary.json").write_text(json.dumps(dict(doc, build="2026.9.0")))
    nb = execute.execute_notebook(NOTEBOOKS_DIR / "build_summary.ipynb",
                                  {"reports_dir": str(current), "reports_root": str(root)})
    text = _outputs_text(nb)
    assert "<th>2026.10.2</th><th>2026.11.0-lab</th>" in text and "<th>2026.9.0</th>" not in text
    assert "Left out of the trend" in text and "2026.9.0: 2026.9.0/SHA256SUMS: no such file" in text
    assert str(tmp_path) not in text
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_summary_notebook_rejects_a_directory_without_summary(tmp_path):
    with pytest.raises(execute.NotebookFailed, match="summary.json: no such file"):
        execute.execute_notebook(NOTEBOOKS_DIR / "build_summary.ipynb", {"reports_dir": str(tmp_path)})
