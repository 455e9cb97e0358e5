"""What the report notebooks call first: parameter validation and figure settings.

The ``parameters`` cell of each notebook holds literals only; the next cell passes
them here, so a bad value is one clear KsauditError instead of a traceback deep in
a plot, and the defaults ("" = the bundled sample build) resolve the same wherever
the notebook runs (papermill from the repository root, or JupyterLab in notebooks/).
"""

from pathlib import Path

from ksaudit.errors import KsauditError

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLES_DIR = REPO_ROOT / "captures" / "samples"
SAMPLE_BUILD = "2026.11.0-lab"
SAMPLE_SCENARIO = "none-process-kill"   # no kill switch: a report with leaks to show
FIGURE_DPI = 96


def setup_notebook():
    """Make inline figures reproducible: PNG without the Software stamp, fixed DPI.

    Call once at the top of a report notebook.  Keeps the inline backend (with
    ``matplotlib.use("agg")`` a notebook silently loses its figures).
    """
    import matplotlib

    matplotlib.rcParams.update({"svg.hashsalt": "ksaudit", "figure.dpi": FIGURE_DPI,
                                "savefig.dpi": FIGURE_DPI, "font.size": 9})
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # outside IPython there is nothing to configure
        return
    try:
        set_matplotlib_formats("png", metadata={"Software": None}, bbox_inches="tight")
    except Exception:  # noqa: BLE001 - not running in IPython
        return


def sample_build():
    """The bundled sample build directory (captures/samples/2026.11.0-lab)."""
    build = SAMPLES_DIR / SAMPLE_BUILD
    if not build.is_dir():
        raise KsauditError(f"{build}: the bundled sample build is missing; pass a path instead")
    return build


def sample_scenario():
    """A scenario of the bundled sample build (one that shows leaks, else the first)."""
    build = sample_build()
    found = sorted(p for p in build.iterdir() if (p / "scenario.yaml").is_file())
    if not found:
        raise KsauditError(f"{build}: no scenario directories in the sample build")
    preferred = [p for p in found if p.name == SAMPLE_SCENARIO]
    return (preferred or found)[0]


def _existing_dir(value, name, default):
    if not isinstance(value, str):
        raise KsauditError(f"parameter {name}: expected a path (str), got {type(value).__name__}")
    path = Path(value) if value else default()
    if not path.is_dir():
        raise KsauditError(f"parameter {name}: {value!r}: not a directory")
    return path


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KsauditError(f"parameter {name}: expected a non-negative integer, got {value!r}")
    return value


def report_parameters(scenario_dir, analysis_json="", zoom_margin_us=2000, max_leak_rows=50):
    """Validate leak_report.ipynb's parameters.

    Parameters
    ----------
    scenario_dir : str
        Scenario directory; "" = a scenario of the bundled sample build.
    analysis_json : str
        Where to also write the analysis document ("" = nowhere).
    zoom_margin_us : int
        Context shown before and after each episode's zoom, µs.
    max_leak_rows : int
        Most leaked frames listed in the leak table.

    Returns
    -------
    dict
        The resolved values (``scenario_dir`` as a Path).
    """
    import ksaudit

    path = _existing_dir(scenario_dir, "scenario_dir", sample_scenario)
    ksaudit.load_scenario(path)  # scenario.yaml errors surface here, named
    if not isinstance(analysis_json, str):
        raise KsauditError(f"parameter analysis_json: expected a path (str), got {analysis_json!r}")
    return {"scenario_dir": path, "analysis_json": analysis_json,
            "zoom_margin_us": _positive_int(zoom_margin_us, "zoom_margin_us"),
            "max_leak_rows": _positive_int(max_leak_rows, "max_leak_rows")}


def save_analysis(doc, path):
    """Write the analysis document to `path` (canonical JSON) unless `path` is ""."""
    if path:
        from ksaudit.report.summary import dumps

        try:
            Path(path).write_text(dumps(doc), encoding="utf-8")
        except OSError as exc:
            raise KsauditError(f"parameter analysis_json: {path}: cannot write: "
                               f"{exc.strerror or exc}") from None


def summary_parameters(reports_dir="", reports_root="", build=""):
    """Validate build_summary.ipynb's parameters and load the build's summary document.

    Parameters
    ----------
    reports_dir : str
        A rendered build (holds summary.json); "" = reports/2026.11.0-lab when it has
        been rendered, else the bundled sample build analysed now.
    reports_root : str
        Where the other rendered builds are, for the trend; "" = reports_dir's parent.
    build : str
        The build's name; "" = as recorded in summary.json.

    Returns
    -------
    dict
        ``summary`` (the document), ``reports_root`` (Path), ``build`` (str).
    """
    from ksaudit.report import buildviews

    for name, value in (("reports_dir", reports_dir), ("reports_root", reports_root),
                        ("build", build)):
        if not isinstance(value, str):
            raise KsauditError(f"parameter {name}: expected str, got {value!r}")
    if reports_dir:
        path = _existing_dir(reports_dir, "reports_dir", None)
        doc = buildviews.load_build(path)
    else:
        path = REPO_ROOT / "reports" / SAMPLE_BUILD
        doc = buildviews.load_build(path) if (path / "summary.json").is_file() \
            else buildviews.analyse_build(sample_build())
    root = Path(reports_root) if reports_root else path.parent
    return {"summary": doc, "reports_root": root, "build": build or doc.get("build", "")}


def explore_parameters(path="", filter_query="", zoom_start_us=None, zoom_end_us=None, max_rows=50):
    """Validate explore_capture.ipynb's parameters.

    Parameters
    ----------
    path : str
        Scenario directory or capture file; "" = a scenario of the bundled sample build.
    filter_query : str
        Filter on the packet table, Wireshark-style or a pandas query ("" = every frame).
    zoom_start_us, zoom_end_us : int or None
        Zoom window in µs from the origin (the first tunnel-down, else the first frame);
        None = from the first / to the last frame.
    max_rows : int
        Most frames listed.

    Returns
    -------
    dict
    """
    if not isinstance(path, str):
        raise KsauditError(f"parameter path: expected str, got {path!r}")
    resolved = Path(path) if path else sample_scenario()
    if not resolved.exists():
        raise KsauditError(f"parameter path: {path!r}: no such file or directory")
    if not isinstance(filter_query, str):
        raise KsauditError(f"parameter filter_query: expected str, got {filter_query!r}")
    for name, value in (("zoom_start_us", zoom_start_us), ("zoom_end_us", zoom_end_us)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise KsauditError(f"parameter {name}: expected an integer or None, got {value!r}")
    return {"path": resolved, "filter_query": filter_query, "zoom_start_us": zoom_start_us,
            "zoom_end_us": zoom_end_us, "max_rows": _positive_int(max_rows, "max_rows")}
