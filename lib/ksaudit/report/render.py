"""Render the verification reports of a build: every scenario in parallel, then the summary.

``render_build`` is what ``ksaudit render`` runs.  Each scenario's notebook, and then
the build summary's, executes in a worker process with its own kernel (local processes
that die with the render, or Dask workers with ``scheduler=``).  The build is written
into a staging directory of this run's own, under an exclusive lock on the output
(`staging`), and swapped into place only when complete: a reader never sees a
half-written or mixed build, and a scenario that fails leaves no earlier report
standing: it becomes ERROR.
"""

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ksaudit.digest import file_sha256
from ksaudit.errors import KsauditError
from ksaudit.report import hashing, staging, summary as summ, workers
from ksaudit.report.resources import NOTEBOOKS_DIR
from ksaudit.safeio import check_name

REPORT_NOTEBOOK = NOTEBOOKS_DIR / "leak_report.ipynb"
SUMMARY_NOTEBOOK = NOTEBOOKS_DIR / "build_summary.ipynb"
SCRATCH = ".scratch"


@dataclass(frozen=True)
class BuildResult:
    """What `render_build` did: where, the summary document, and the CI exit code."""
    out_dir: Path
    summary: dict
    exit_code: int


def find_scenarios(captures):
    """The scenario directories of a build (sub-directories holding scenario.yaml), sorted.

    A directory that itself holds scenario.yaml is a build of one scenario.
    A scenario.yaml that is not a regular file still makes its directory a scenario
    (which then renders as ERROR saying so), never a silently skipped one.
    """
    captures = Path(captures)
    if not captures.is_dir():
        raise KsauditError(f"{captures}: not a directory (expected CAPTURES/<build>)")
    if os.path.lexists(captures / "scenario.yaml"):
        return [captures]
    found = sorted(p for p in captures.iterdir()
                   if p.is_dir() and not p.name.startswith(".")
                   and os.path.lexists(p / "scenario.yaml"))
    if not found:
        raise KsauditError(f"{captures}: no scenario directories (none has a scenario.yaml)")
    return found


def output_dir(captures, out=None):
    """Where a build renders: `out`, else reports/<build> below the working directory (resolved)."""
    return Path(out if out is not None else Path("reports") / Path(captures).resolve().name).resolve()


def _display_path(path, cwd):
    """`path` relative to `cwd` when it lies below it (keeps rendered notebooks free of
    machine-specific absolute paths), absolute otherwise."""
    path = Path(path).resolve()
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()


def render_scenario(task):
    """Render one scenario's report; the unit of work for a process pool or a Dask worker.

    Parameters
    ----------
    task : dict
        name, scenario_dir, work_dir, notebook, cwd, build_root (all str; paths
        absolute except that the notebook parameters are given relative to cwd).

    Returns
    -------
    dict
        The scenario's summary entry: name, verdict, error, report, notebook,
        inputs, analysis.
    """
    from ksaudit.report import execute

    name, work = task["name"], Path(task["work_dir"])
    scratch = work / SCRATCH  # made by render_build: a stale worker cannot recreate a staging dir
    entry = {"name": name, "verdict": "ERROR", "error": None, "report": f"{name}.html",
             "notebook": f"{name}.ipynb", "inputs": [], "analysis": None}
    try:
        entry["inputs"] = input_hashes(task["scenario_dir"], task["build_root"])
    except KsauditError as exc:
        entry["error"] = str(exc)
    analysis_json = scratch / f"{name}.analysis.json"
    params = {"scenario_dir": _display_path(task["scenario_dir"], task["cwd"]),
              "analysis_json": _display_path(analysis_json, task["cwd"])}
    nb = None
    if entry["error"] is None:
        try:
            nb = execute.execute_notebook(task["notebook"], params, cwd=task["cwd"],
                                          partial_path=scratch / f"{name}.partial.ipynb")
            entry["analysis"] = summ.load_json(analysis_json)
            entry["verdict"] = entry["analysis"]["verdict"]
            if entry["verdict"] not in summ.VERDICTS[:3]:
                raise KsauditError(f"{analysis_json}: unknown verdict {entry['verdict']!r}")
        except execute.NotebookFailed as exc:
            entry["error"], nb = str(exc), exc.notebook
        except (KsauditError, KeyError, TypeError) as exc:
            entry["error"] = f"no analysis document from the notebook: {exc}"
    if entry["error"] is not None:
        entry["verdict"], entry["analysis"] = "ERROR", None
        if nb is None:
            entry["notebook"] = None
        html = summ.error_page(name, entry["error"], entry["notebook"])
    else:
        html = execute.to_html(nb, f"{name}: {entry['verdict']}")
    if nb is not None:
        # the analysis document was a staging file (it is published in summary.json):
        # the notebook shows the parameters a reader can re-run it with
        published = dict(params, analysis_json="")
        execute.write_notebook(execute.publish_parameters(nb, published), work / f"{name}.ipynb")
    (work / f"{name}.html").write_text(html, encoding="utf-8")
    return entry


def input_hashes(scenario_dir, build_root):
    """[{path, bytes, sha256}] for every file of a scenario, paths relative to the build.

    KsauditError for anything in it that is not a regular file or a directory (a link,
    a FIFO, ...): evidence is regular files, and none of it is opened otherwise.
    """
    scenario_dir = Path(scenario_dir)
    rows = []
    for rel in hashing.list_files(scenario_dir):
        full = scenario_dir / rel
        size, digest = file_sha256(full, follow=False)
        rows.append({"path": full.relative_to(build_root).as_posix(), "bytes": size,
                     "sha256": digest})
    return rows


def _worker_failed(exc, task):
    """A crashed worker is an ERROR for its scenario, never a PASS.

    Runs in the render's own process: it writes the ERROR page the worker could not,
    and records the inputs' hashes, so that the build still verifies with its evidence.
    """
    entry = {"name": task["name"], "verdict": "ERROR", "report": f"{task['name']}.html",
             "notebook": None, "inputs": [], "analysis": None,
             "error": f"render worker failed: {type(exc).__name__}: {exc}"}
    try:
        entry["inputs"] = input_hashes(task["scenario_dir"], task["build_root"])
    except KsauditError as why:
        entry["error"] += f"; {why}"
    Path(task["work_dir"], entry["report"]).write_text(summ.error_page(task["name"], entry["error"]),
                                                       encoding="utf-8")
    return entry


def check_kernel():
    """KsauditError unless the `python3` Jupyter kernel the notebooks run on is installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from ksaudit.report.execute import KERNEL_NAME

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise KsauditError(f"no {KERNEL_NAME!r} Jupyter kernel is installed; install one with "
                           "`python3 -m ipykernel install --sys-prefix`") from None


def render_build(captures, out=None, jobs=None, scheduler=None, base_url="", timestamp=None,
                 report_notebook=REPORT_NOTEBOOK, summary_notebook=SUMMARY_NOTEBOOK,
                 progress=True, sign=None, trend=None):
    """Render every scenario of a build, the build summary and the evidence files.

    Parameters
    ----------
    captures : str or Path
        CAPTURES/<build>: a directory of scenario directories.
    out : str or Path, optional
        Output directory; default ``reports/<build>``.  Replaced as a whole; it may
        neither hold nor lie inside any input (captures, notebooks, key).
    jobs : int, optional
        Parallel renders (processes); default the number of CPUs.
    scheduler : str, optional
        ``tcp://host:port`` of a Dask distributed scheduler to render on instead.
    base_url : str
        Prefix for report links in CHANGELOG-snippet.md.
    timestamp : str, optional
        An explicit render time to record (makes the output differ run to run).
    report_notebook, summary_notebook : str or Path
        The notebooks to execute (the project's own by default).
    progress : bool
        Show a progress bar on stderr.
    sign : str or Path, optional
        An OpenSSH private key: sign SHA256SUMS into SHA256SUMS.sig (`signing`).
    trend : str or Path, optional
        A directory of other rendered builds to show in index.html's trend (the
        parent of `out` for the builds beside this one); by default index.html
        depends on this build's evidence only.

    Returns
    -------
    BuildResult
    """
    from tqdm import tqdm

    from ksaudit.report import signing

    captures = Path(captures).resolve()
    scenarios = find_scenarios(captures)
    build = captures.name
    out = output_dir(captures, out)
    names = [p.name for p in scenarios] if scenarios != [captures] else [captures.name]
    _check_names(out, captures, scenarios)
    notebooks = [Path(report_notebook).resolve(), Path(summary_notebook).resolve()]
    staging.check_separate(out, [("evidence directory", captures)]
                           + [("scenario directory", p.resolve()) for p in scenarios]
                           + [("report notebook", notebooks[0]), ("summary notebook", notebooks[1])]
                           + ([("signing key", Path(sign).resolve())] if sign else []))
    trend = Path(trend).resolve() if trend else None
    if trend is not None and (trend == out or out in trend.parents):
        raise KsauditError(f"--trend {trend}: must not be the output directory or inside it")
    key_id = signing.fingerprint(sign) if sign else None  # a bad key fails before any work
    if not scheduler:
        check_kernel()  # otherwise every scenario would become ERROR for the same reason
    cwd = Path.cwd().resolve()
    build_root = captures if scenarios != [captures] else captures.parent
    with staging.output_lock(out):
        staging.check_replaceable(out)
        work = staging.make_staging(out)
        try:
            (work / SCRATCH).mkdir()
            tasks = [{"name": n, "scenario_dir": str(p), "work_dir": str(work), "cwd": str(cwd),
                      "notebook": str(notebooks[0]), "build_root": str(build_root)}
                     for n, p in zip(names, scenarios)]
            bar = tqdm(total=len(tasks) + 1, desc=f"render {build}", unit="report",
                       file=sys.stderr, disable=not progress)
            pool = workers.DaskPool(scheduler) if scheduler else \
                workers.LocalPool(min(jobs or os.cpu_count() or 1, len(tasks)))
            with bar, pool:
                results = pool.map(render_scenario, tasks, bar, _worker_failed)
                entries = [results[n] for n in names]
                doc = summ.build_summary(build, entries, generated=timestamp)
                (work / "summary.json").write_text(summ.dumps(doc), encoding="utf-8")
                index = {"name": "index", "work_dir": str(work), "out_dir": str(out),
                         "build": build, "notebook": str(notebooks[1]), "cwd": str(cwd),
                         "reports_root": str(trend or work), "published_root": str(trend or out)}
                failed = pool.map(render_index, [index], bar, _index_failed)["index"]
            if failed:
                _index_error(work, build, doc, failed)
            label = _display_path(out, cwd)
            (work / "CHANGELOG-snippet.md").write_text(
                summ.changelog_snippet(doc, base_url=base_url, reports_label=label,
                                       captures_label=_display_path(captures, cwd),
                                       signed_by=key_id), encoding="utf-8")
            shutil.rmtree(work / SCRATCH, ignore_errors=True)
            hashing.write_sums(work)
            if sign:
                signing.sign(work / hashing.SUMS_NAME, sign)
            try:
                staging.swap_into_place(work, out)
            except OSError as exc:
                raise KsauditError(f"{out}: cannot move the rendered build into place: "
                                   f"{exc.strerror or exc}") from None
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return BuildResult(out_dir=out, summary=doc, exit_code=doc["exit_code"])


def _check_names(out, captures, scenarios):
    """Every name that ends up in a line of SHA256SUMS, the snippet or verify's output
    must fit on one line (KsauditError before anything is rendered)."""
    check_name(out, "-o")
    check_name(captures, "captures")
    for scenario in scenarios:
        check_name(scenario.name, "scenario directory")
        for rel, _ in hashing.tree_entries(scenario):
            check_name(rel, str(scenario))


def render_index(task):
    """Execute the build summary notebook into index.ipynb / index.html (a worker's job).

    Parameters
    ----------
    task : dict
        work_dir, out_dir, build, notebook, cwd, reports_root, published_root (str).

    Returns
    -------
    str or None
        Why the summary notebook failed, or None when index.html is written.
    """
    from ksaudit.report import execute

    work, cwd = Path(task["work_dir"]), Path(task["cwd"])
    params = {"reports_dir": _display_path(work, cwd),
              "reports_root": _display_path(task["reports_root"], cwd), "build": task["build"]}
    published = dict(params, reports_dir=_display_path(task["out_dir"], cwd),  # after the move
                     reports_root=_display_path(task["published_root"], cwd))
    try:
        nb = execute.execute_notebook(task["notebook"], params, cwd=cwd,
                                      partial_path=work / SCRATCH / "index.partial.ipynb")
    except execute.NotebookFailed as exc:
        return str(exc)
    doc = summ.load_json(work / "summary.json")
    execute.write_notebook(execute.publish_parameters(nb, published), work / "index.ipynb")
    (work / "index.html").write_text(execute.to_html(nb, f"{task['build']}: {doc['verdict']}"),
                                     encoding="utf-8")
    return None


def _index_failed(exc, task):
    return f"render worker failed: {type(exc).__name__}: {exc}"


def _index_error(work, build, doc, error):
    """A failing build summary is an ERROR page; it cannot leave the build a PASS."""
    doc["summary_error"] = error
    doc["verdict"] = summ.overall_verdict([doc["verdict"], "ERROR"])
    doc["exit_code"] = summ.EXIT_CODES[doc["verdict"]]
    (work / "summary.json").write_text(summ.dumps(doc), encoding="utf-8")
    (work / "index.html").write_text(summ.error_page(f"{build}: build summary", error),
                                     encoding="utf-8")
