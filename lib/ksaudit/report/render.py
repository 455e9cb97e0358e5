"""Render the verification reports of a build: every scenario in parallel, then the summary.

``render_build`` is what ``ksaudit render`` runs.  Each scenario's notebook executes
in its own process with its own kernel (local processes, or Dask workers with
``scheduler=``); the build is written into a hidden sibling directory and moved into
place only when complete, so a reader never sees a half-written build and a scenario
that fails leaves no earlier report standing: it becomes ERROR.
"""

import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from ksaudit.errors import KsauditError
from ksaudit.report import hashing, summary as summ

NOTEBOOKS_DIR = Path(__file__).resolve().parents[3] / "notebooks"
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
    """
    captures = Path(captures)
    if not captures.is_dir():
        raise KsauditError(f"{captures}: not a directory (expected CAPTURES/<build>)")
    if (captures / "scenario.yaml").is_file():
        return [captures]
    found = sorted(p for p in captures.iterdir()
                   if p.is_dir() and not p.name.startswith(".") and (p / "scenario.yaml").is_file())
    if not found:
        raise KsauditError(f"{captures}: no scenario directories (none has a scenario.yaml)")
    return found


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
    scratch = work / SCRATCH
    scratch.mkdir(parents=True, exist_ok=True)
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
    """[{path, bytes, sha256}] for every file of a scenario, paths relative to the build."""
    scenario_dir = Path(scenario_dir)
    rows = []
    for rel in hashing.list_files(scenario_dir):
        full = scenario_dir / rel
        rows.append({"path": full.relative_to(build_root).as_posix(),
                     "bytes": full.stat().st_size, "sha256": hashing.sha256_file(full)})
    return rows


def _run_local(tasks, jobs, progress):
    results = {}
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(tasks))),
                             mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(render_scenario, t): t for t in tasks}
        for fut in as_completed(futures):
            t = futures[fut]
            results[t["name"]] = _result_or_error(fut, t)
            progress.update(1)
    return results


def _run_dask(tasks, scheduler, progress):
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise KsauditError("--scheduler needs the 'distributed' package") from None
    try:
        client = Client(scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise KsauditError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
    results = {}
    try:
        futures = client.map(render_scenario, tasks, pure=False)
        by_key = {f.key: t for f, t in zip(futures, tasks)}
        for fut in dask_completed(futures, loop=client.loop):
            t = by_key[fut.key]
            results[t["name"]] = _result_or_error(fut, t)
            progress.update(1)
    finally:
        client.close()
    return results


def _result_or_error(fut, task):
    try:
        return fut.result()
    except Exception as exc:  # a crashed worker is an ERROR for its scenario, never a PASS
        return {"name": task["name"], "verdict": "ERROR", "report": f"{task['name']}.html",
                "notebook": None, "inputs": [], "analysis": None,
                "error": f"render worker failed: {type(exc).__name__}: {exc}"}


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
                 progress=True):
    """Render every scenario of a build, the build summary and the evidence files.

    Parameters
    ----------
    captures : str or Path
        CAPTURES/<build>: a directory of scenario directories.
    out : str or Path, optional
        Output directory; default ``reports/<build>``.  Replaced as a whole.
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

    Returns
    -------
    BuildResult
    """
    from tqdm import tqdm

    captures = Path(captures).resolve()
    scenarios = find_scenarios(captures)
    if not scheduler:
        check_kernel()  # otherwise every scenario would become ERROR for the same reason
    build = captures.name
    out = Path(out if out is not None else Path("reports") / build).resolve()
    if out == captures or captures in out.parents:
        raise KsauditError(f"{out}: the output must not be inside the evidence directory")
    _check_replaceable(out)
    names = [p.name for p in scenarios] if scenarios != [captures] else [captures.name]
    cwd = Path.cwd().resolve()
    work = out.with_name(f".{out.name}.partial")
    try:
        if work.exists():
            shutil.rmtree(work)  # a previous render died half-way
        work.mkdir(parents=True)
    except OSError as exc:
        raise KsauditError(f"{out}: cannot write the output here: {exc.strerror or exc}") from None
    build_root = captures if scenarios != [captures] else captures.parent
    try:
        tasks = [{"name": n, "scenario_dir": str(p), "work_dir": str(work), "cwd": str(cwd),
                  "notebook": str(Path(report_notebook).resolve()), "build_root": str(build_root)}
                 for n, p in zip(names, scenarios)]
        bar = tqdm(total=len(tasks) + 1, desc=f"render {build}", unit="report",
                   file=sys.stderr, disable=not progress)
        with bar:
            if scheduler:
                results = _run_dask(tasks, scheduler, bar)
            else:
                results = _run_local(tasks, jobs or os.cpu_count() or 1, bar)
            entries = [results[n] for n in names]
            doc = summ.build_summary(build, entries, generated=timestamp)
            (work / "summary.json").write_text(summ.dumps(doc), encoding="utf-8")
            _render_index(work, out, build, summary_notebook, cwd, doc)
            bar.update(1)
        label = _display_path(out, cwd)
        (work / "CHANGELOG-snippet.md").write_text(
            summ.changelog_snippet(doc, base_url=base_url, reports_label=label,
                                   captures_label=_display_path(captures, cwd)), encoding="utf-8")
        shutil.rmtree(work / SCRATCH, ignore_errors=True)
        hashing.write_sums(work)
        try:
            _swap_into_place(work, out)
        except OSError as exc:
            raise KsauditError(f"{out}: cannot move the rendered build into place: "
                               f"{exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return BuildResult(out_dir=out, summary=doc, exit_code=doc["exit_code"])


def _render_index(work, out, build, notebook, cwd, doc):
    """Execute the build summary notebook into index.ipynb / index.html.

    A failing summary is an ERROR page; it cannot turn the build into a PASS.
    """
    from ksaudit.report import execute

    params = {"reports_dir": _display_path(work, cwd),
              "reports_root": _display_path(out.parent, cwd), "build": build}
    published = dict(params, reports_dir=_display_path(out, cwd))  # where it is moved to
    try:
        nb = execute.execute_notebook(notebook, params, cwd=cwd,
                                      partial_path=work / SCRATCH / "index.partial.ipynb")
    except execute.NotebookFailed as exc:
        doc["summary_error"] = str(exc)
        doc["verdict"] = summ.overall_verdict([doc["verdict"], "ERROR"])
        doc["exit_code"] = summ.EXIT_CODES[doc["verdict"]]
        (work / "summary.json").write_text(summ.dumps(doc), encoding="utf-8")
        (work / "index.html").write_text(summ.error_page(f"{build}: build summary", str(exc)),
                                         encoding="utf-8")
        return
    execute.write_notebook(execute.publish_parameters(nb, published), work / "index.ipynb")
    (work / "index.html").write_text(execute.to_html(nb, f"{build}: {doc['verdict']}"),
                                     encoding="utf-8")


def _check_replaceable(out):
    """The output directory is replaced as a whole: refuse unless it is empty or an
    earlier ksaudit build (a mistyped -o must never delete someone's files)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise KsauditError(f"{out}: exists and is not a directory")
    if not any(out.iterdir()):
        return
    try:
        schema = summ.load_json(out / "summary.json").get("schema", "")
    except (KsauditError, AttributeError):
        schema = ""
    if not str(schema).startswith("ksaudit.summary/") or not (out / hashing.SUMS_NAME).is_file():
        raise KsauditError(f"{out}: exists and is not a build rendered by ksaudit; refusing to "
                           "replace it (choose another -o or remove it)")


def _swap_into_place(work, out):
    """Replace `out` by `work`: two renames, the old build removed only afterwards."""
    old = out.with_name(f".{out.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        out.rename(old)
    work.rename(out)
    if old.exists():
        shutil.rmtree(old)
