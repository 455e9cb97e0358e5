"""Fixtures for the report tests: stand-in notebooks and small builds made on the spot.

The stand-in notebooks exercise the render machinery (papermill, nbconvert, the
process pool, atomic swap, hashing) with the same parameters as the real ones,
without depending on the analysis stages.
"""

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

STANDIN_REPORT = [
    ('scenario_dir: str = ""  # help: scenario directory\n'
     'analysis_json: str = ""  # help: where to write the analysis document', ["parameters"]),
    ("import json, pathlib\n"
     "from IPython.display import display\n"
     "from ksaudit.report.html import Html, esc, table\n"
     "spec = json.loads((pathlib.Path(scenario_dir) / 'standin.json').read_text())\n"
     "if spec.get('raise'):\n"
     "    raise ValueError(spec['raise'])\n"
     "doc = {'schema': 'ksaudit.analysis/1', 'verdict': spec['verdict'],\n"
     "       'reasons': spec.get('reasons', []), 'episodes': spec.get('episodes', []),\n"
     "       'scenario': {'name': pathlib.Path(scenario_dir).name, 'platform': 'linux',\n"
     "                    'scenario': 'process-kill'}}\n"
     "if analysis_json:\n"
     "    pathlib.Path(analysis_json).write_text(json.dumps(doc))\n"
     "display(Html(f'<div class=\"ks-verdict ks-{esc(doc[\"verdict\"])}\">{esc(doc[\"verdict\"])}</div>'))\n"
     "display(table(['note'], [[spec.get('note', '')]]))", []),
    ("## Timeline", None),
    ("from matplotlib.figure import Figure\n"
     "from ksaudit.report.notebook import setup_notebook\n"
     "setup_notebook()\n"
     "fig = Figure(figsize=(4, 2))\n"
     "fig.add_subplot().plot([0, 1, 2], [0, 1, 0], 'r-')\n"
     "display(fig)", []),
]

STANDIN_SUMMARY = [
    ('reports_dir: str = ""  # help: rendered build\n'
     'reports_root: str = ""  # help: all builds\n'
     'build: str = ""  # help: build name', ["parameters"]),
    ("import json, pathlib\n"
     "from IPython.display import display\n"
     "from ksaudit.report.html import table\n"
     "doc = json.loads((pathlib.Path(reports_dir) / 'summary.json').read_text())\n"
     "display(table(['scenario', 'verdict'], [[s['name'], s['verdict']] for s in doc['scenarios']]))",
     []),
]


def make_notebook(path, cells):
    nb = new_notebook(metadata={"kernelspec": KERNELSPEC})
    for source, tags in cells:
        if tags is None:
            nb.cells.append(new_markdown_cell(source))
        else:
            nb.cells.append(new_code_cell(source, metadata={"tags": tags} if tags else {}))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"standin-{i}"
    nbformat.write(nb, str(path))
    return path


def make_scenario(build_dir, name, verdict="PASS", **spec):
    d = Path(build_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "scenario.yaml").write_text(f"build: test\nscenario: process-kill\n", encoding="utf-8")
    (d / "device.pcap").write_bytes(bytes(range(256)) * 4)
    (d / "standin.json").write_text(json.dumps({"verdict": verdict, **spec}), encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def scenario_maker():
    """make_scenario(build_dir, name, verdict, **standin_spec) -> scenario directory."""
    return make_scenario


@pytest.fixture(scope="session")
def standin_notebooks(tmp_path_factory):
    d = tmp_path_factory.mktemp("standin-notebooks")
    return (make_notebook(d / "report.ipynb", STANDIN_REPORT),
            make_notebook(d / "summary.ipynb", STANDIN_SUMMARY))
