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
    (d / "scenario.yaml").write_text("build: test\nscenario: process-kill\n", encoding="utf-8")
    (d / "device.pcap").write_bytes(bytes(range(256)) * 4)
    (d / "standin.json").write_text(json.dumps({"verdict": verdict, **spec}), encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def scenario_maker():
    """make_scenario(build_dir, name, verdict, **standin_spec) -> scenario directory."""
    return make_scenario


@pytest.fixture(scope="session")
def notebook_maker():
    """make_notebook(path, [(source, tags or None for markdown), ...]) -> path."""
    return make_notebook


@pytest.fixture(scope="session")
def standin_notebooks(tmp_path_factory):
    d = tmp_path_factory.mktemp("standin-notebooks")
    return (make_notebook(d / "report.ipynb", STANDIN_REPORT),
            make_notebook(d / "summary.ipynb", STANDIN_SUMMARY))


# ---------------------------------------------------------------------------
# The real notebooks on (copies of) the lab's sample build, rendered once per session.

import shutil  # noqa: E402
import struct  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "captures" / "samples" / "2026.11.0-lab"
FAIL_SCENARIO = "none-process-kill"
TRIALS_SCENARIO = "strong-reconnect-3-trials"
HOSTILE_NAME = "<script>alert(1)</script>\"'x"
HOSTILE_LOG = "<script>alert('log')</script> \"quoted\" " + "A" * 5000


def _first_leak_record(data):
    """Offset and fields of the first outgoing wlan0 probe frame in an ns pcap (SLL2)."""
    off = 24
    while off + 16 <= len(data):
        sec, nsec, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16: off + 16 + incl]
        ifindex = struct.unpack_from(">I", frame, 4)[0]
        if ifindex == 2 and frame[10] == 4 and frame[20 + 9] == 17 and \
                struct.unpack_from(">H", frame, 20 + 20 + 2)[0] == 33434:
            return sec, nsec, frame
        off += 16 + incl
    raise AssertionError("no outgoing wlan0 probe frame in the sample capture")


def add_hostile_evidence(scenario):
    """Append a leaked DNS query for a hostile name to device.pcap and a hostile
    journald line to logs/journal.json (both during the tunnel-down episode)."""
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, UDP

    pcap = scenario / "device.pcap"
    data = pcap.read_bytes()
    assert data[:4] == b"\x4d\x3c\xb2\xa1", "expected a little-endian ns pcap"
    sec, nsec, frame = _first_leak_record(data)
    dns = bytes(IP(src="192.168.50.10", dst="203.0.113.53", ttl=64) / UDP(sport=53535, dport=53)
                / DNS(rd=1, qd=DNSQR(qname=HOSTILE_NAME.encode() + b".example.")))
    new = frame[:20] + dns
    nsec += 1000
    with open(pcap, "ab") as fh:
        fh.write(struct.pack("<IIII", sec, nsec, len(new), len(new)) + new)
    journal = scenario / "logs" / "journal.json"
    lines = journal.read_text().splitlines()
    entry = json.loads(lines[0])
    ts_us = (sec * 1_000_000_000 + nsec) // 1000
    entry.update({"MESSAGE": HOSTILE_LOG, "__REALTIME_TIMESTAMP": str(ts_us),
                  "_SOURCE_REALTIME_TIMESTAMP": str(ts_us), "SYSLOG_IDENTIFIER": "hostile<b>",
                  "__CURSOR": entry["__CURSOR"].replace(";i=1;", ";i=9999;")})
    lines.append(json.dumps(entry))
    journal.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def sample_render(tmp_path_factory):
    """Copies of two sample scenarios (one with hostile evidence added) and one broken
    scenario, rendered twice by the real notebooks into the same directory."""
    if not (SAMPLES / FAIL_SCENARIO).is_dir() or not (SAMPLES / TRIALS_SCENARIO).is_dir():
        pytest.skip(f"the lab's sample build is not in {SAMPLES}")
    from ksaudit.report import render

    base = tmp_path_factory.mktemp("sample")
    build = base / "captures" / "2026.11.0-lab"
    for name in (FAIL_SCENARIO, TRIALS_SCENARIO):
        shutil.copytree(SAMPLES / name, build / name)
    add_hostile_evidence(build / FAIL_SCENARIO)
    broken = build / "zz-broken"
    shutil.copytree(SAMPLES / TRIALS_SCENARIO, broken)
    with open(broken / "scenario.yaml", "a") as fh:
        fh.write("tolerance_typo_us: 5\n")
    out = base / "reports" / "2026.11.0-lab"
    first = render.render_build(build, out, jobs=2, progress=False)
    snap = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    second = render.render_build(build, out, jobs=2, progress=False)
    return {"build": build, "out": out, "first": first, "second": second, "snapshot": snap}
