"""JUnit XML from `analyze --junit` and `render --junit`: read back with junitparser,
valid against the Jenkins xUnit plugin's junit-10.xsd, INCONCLUSIVE never green."""

import importlib.util
import subprocess
import sys
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped
from lxml import etree

from leak_builder import window

from ksaudit.exports.junit import junit_xml

REPORT_CONFTEST = Path(__file__).resolve().parents[1] / "report" / "conftest.py"


def ksaudit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ksaudit.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def check_valid(schema, path):
    doc = etree.parse(str(path))
    assert schema.validate(doc), schema.error_log


def only_case(xml):
    suites = list(xml)
    assert len(suites) == 1 and len(list(suites[0])) == 1
    return suites[0], list(suites[0])[0]


def test_fail_pass_and_inconclusive_from_analyze(builder, tmp_path, junit_schema):
    builder.probes_run(0, 2000, window(1000, 1200))
    builder.down_up(1000, 1200)
    root = builder.write()
    out = tmp_path / "fail.xml"
    proc = ksaudit("analyze", root, "--quiet", "--junit", out, "--json", "a.json",
                   "--leaks", "leaks.csv", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    check_valid(junit_schema, out)
    xml = JUnitXml.fromfile(str(out))
    suite, case = only_case(xml)
    assert (case.classname, case.name) == ("2026.11.0-test", "scn")
    assert (suite.tests, suite.failures, suite.errors) == (1, 1, 0)
    [failure] = case.result
    assert isinstance(failure, Failure) and failure.type == "FAIL"
    assert failure.message.startswith("leak: episode 1: 20 frame(s)")
    assert "window 190000 us" in failure.text and "203.0.113.80" in failure.text
    props = {p.name: p.value for p in suite.properties()}
    assert props["leaked_frames"] == "20" and props["worst_window_us"] == "190000"
    assert props["verdict"] == "FAIL" and props["episodes"] == "1" and props["reasons"] == "leak"
    # the analysis document and the leak table are attached, relative to the workspace
    assert case.system_out.split() == ["[[ATTACHMENT|a.json]]", "[[ATTACHMENT|leaks.csv]]"]
    assert (tmp_path / "a.json").is_file() and (tmp_path / "leaks.csv").is_file()

    builder = type(builder)(tmp_path / "pass")
    builder.probes_run(0, 2000, lambda t: "block" if 1000 <= t < 1200 else "up")
    builder.down_up(1000, 1200)
    root = builder.write()
    proc = ksaudit("analyze", root, "--quiet", "--junit", tmp_path / "pass.xml")
    assert proc.returncode == 0, proc.stderr
    check_valid(junit_schema, tmp_path / "pass.xml")
    suite, case = only_case(JUnitXml.fromfile(str(tmp_path / "pass.xml")))
    assert case.is_passed and case.result == [] and case.system_out is None
    assert "worst_window_us" not in {p.name for p in suite.properties()}  # nothing leaked

    builder.write(captures=[{"file": "device.pcap", "dropped": 2}])
    proc = ksaudit("analyze", root, "--quiet", "--junit", tmp_path / "inc.xml")
    assert proc.returncode == 3, proc.stderr
    check_valid(junit_schema, tmp_path / "inc.xml")
    xml = JUnitXml.fromfile(str(tmp_path / "inc.xml"))
    suite, case = only_case(xml)
    [error] = case.result
    assert isinstance(error, Error) and error.type == "INCONCLUSIVE"
    assert not isinstance(error, Skipped) and not case.is_passed and not case.is_skipped
    assert "dropped_packets" in error.message and (xml.errors, xml.failures) == (1, 0)


def test_error_scenarios_and_hostile_text(junit_schema, tmp_path):
    entries = [
        {"name": "broken", "verdict": "ERROR", "error": "ValueError: kernel\x00 died\nbadly",
         "analysis": None, "attachments": ["reports/b/broken.html"]},
        {"name": "odd\x1b<name>&", "verdict": "INCONCLUSIVE", "error": None, "attachments": [],
         "analysis": {"reasons": [{"code": "no_tunnel_down", "episode": None,
                                   "message": "no tunnel-down event \x07 was found"}],
                      "episodes": [], "scenario": {"platform": "linux"}}},
        {"name": "skip-bad-attachment", "verdict": "PASS", "error": None, "analysis": {},
         "attachments": ["a\nb.html", "x]]y.html", "ok.html"]},
    ]
    path = tmp_path / "j.xml"
    path.write_bytes(junit_xml("b<1>", entries))
    check_valid(junit_schema, path)
    xml = JUnitXml.fromfile(str(path))
    assert (xml.tests, xml.failures, xml.errors) == (3, 0, 2)
    cases = {c.name: c for s in xml for c in s}
    [err] = cases["broken"].result
    assert err.type == "ERROR" and err.message == "ValueError: kernel\\x00 died badly"
    assert cases["broken"].classname == "b<1>"
    assert cases["broken"].system_out.strip() == "[[ATTACHMENT|reports/b/broken.html]]"
    [inc] = cases["odd\\x1b<name>&"].result
    assert inc.type == "INCONCLUSIVE" and "\\x07" in inc.message
    assert cases["skip-bad-attachment"].system_out.split() == ["[[ATTACHMENT|ok.html]]"]
    assert junit_xml("b<1>", entries) == path.read_bytes()      # deterministic


def test_bad_paths_are_one_line_errors(builder, tmp_path):
    builder.probes_run(0, 200, lambda t: "up")
    root = builder.write()
    for target in (tmp_path / "no" / "dir" / "j.xml", tmp_path):
        proc = ksaudit("analyze", root, "--junit", target)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("ksaudit: error: --junit ") and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob(".*.part"))


def _report_fixtures():
    spec = importlib.util.spec_from_file_location("report_conftest", REPORT_CONFTEST)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_render_junit_one_case_per_scenario(tmp_path, junit_schema):
    fx = _report_fixtures()
    rep = fx.make_notebook(tmp_path / "report.ipynb", fx.STANDIN_REPORT)
    summ = fx.make_notebook(tmp_path / "summary.ipynb", fx.STANDIN_SUMMARY)
    build = tmp_path / "captures" / "b9"
    fx.make_scenario(build, "ok", "PASS")
    fx.make_scenario(build, "leaky", "FAIL", reasons=[{"code": "leak", "episode": 1,
                                                        "message": "3 frame(s) left"}])
    fx.make_scenario(build, "unsure", "INCONCLUSIVE",
                     reasons=[{"code": "capture_gap", "message": "gap", "episode": None}])
    fx.make_scenario(build, "boom", "PASS", **{"raise": "kernel <died>"})
    out = tmp_path / "reports" / "b9"
    common = ["render", build, "-o", out, "--jobs", "2", "-q",
              "--report-notebook", rep, "--summary-notebook", summ]
    inside = ksaudit(*common, "--junit", out / "junit.xml", cwd=tmp_path)
    assert inside.returncode == 2 and "outside the output directory" in inside.stderr
    assert not out.exists()                                  # refused before rendering
    yaml_before = (build / "ok" / "scenario.yaml").read_bytes()
    (tmp_path / "link.xml").symlink_to(build / "ok" / "scenario.yaml")
    for evidence in (build / "ok" / "scenario.yaml", tmp_path / "link.xml"):
        refused = ksaudit(*common, "--junit", evidence, cwd=tmp_path)
        assert refused.returncode == 2 and "outside the evidence directory" in refused.stderr
    assert (build / "ok" / "scenario.yaml").read_bytes() == yaml_before and not out.exists()
    proc = ksaudit(*common, "--junit", "junit.xml", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    check_valid(junit_schema, tmp_path / "junit.xml")
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    cases = {c.name: c for s in xml for c in s}
    assert sorted(cases) == ["boom", "leaky", "ok", "unsure"]
    assert {c.classname for c in cases.values()} == {"b9"}
    kinds = {n: (type(c.result[0]).__name__, c.result[0].type) if c.result else None
             for n, c in cases.items()}
    assert kinds == {"ok": None, "leaky": ("Failure", "FAIL"), "unsure": ("Error", "INCONCLUSIVE"),
                     "boom": ("Error", "ERROR")}
    assert "kernel <died>" in cases["boom"].result[0].message
    for name, case in cases.items():
        [line] = case.system_out.split()
        assert line == f"[[ATTACHMENT|reports/b9/{name}.html]]"
        assert (tmp_path / line[13:-2]).is_file()           # as Jenkins and GitLab resolve it
    assert (xml.tests, xml.failures, xml.errors) == (4, 1, 2)
