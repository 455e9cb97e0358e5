"""Execute one parameterised notebook with papermill and export it to HTML.

Runs one kernel in the calling process (papermill changes the working directory,
which is not thread-safe), retries once when the kernel is slow to start, and
normalises everything papermill and nbformat make vary between runs (timings,
random cell ids, absolute paths) so that the same inputs give byte-identical files.
"""

import copy
import os
import re
from pathlib import Path

import nbformat

from ksaudit.report.resources import TEMPLATES_DIR

TEMPLATE_NAME = "ksaudit"
KERNEL_NAME = "python3"
START_TIMEOUT_S = 60
CELL_TIMEOUT_S = 600

_PM_VOLATILE = ("start_time", "end_time", "duration", "input_path", "output_path")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")
_KERNEL_START_HINTS = ("Kernel didn't respond", "kernel died before replying",
                       "Timeout waiting for", "Kernel died before")


class NotebookFailed(Exception):
    """The notebook raised (or its kernel died); `.notebook` holds what ran."""

    def __init__(self, message, notebook=None):
        super().__init__(message)
        self.notebook = notebook


def execute_notebook(template, parameters, cwd=None, partial_path=None):
    """Run `template` with `parameters` in a fresh kernel; return the normalised notebook.

    Parameters
    ----------
    template : str or Path
        Notebook with a cell tagged ``parameters``.
    parameters : dict
        Values injected by papermill (paths as str).
    cwd : str or Path, optional
        Working directory of the kernel (relative paths are resolved there).
    partial_path : str or Path, optional
        Where papermill may save the notebook as it runs; on failure the partial
        notebook (with the traceback) is read back from there into the exception.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook with volatile metadata removed.

    Raises
    ------
    NotebookFailed
        A cell raised, or the kernel died; the message names the exception.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    for attempt in (1, 2):
        try:
            nb = papermill.execute_notebook(
                str(template), None if partial_path is None else str(partial_path),
                parameters=parameters, kernel_name=KERNEL_NAME,
                cwd=None if cwd is None else str(cwd), progress_bar=False, log_output=False,
                start_timeout=START_TIMEOUT_S, execution_timeout=CELL_TIMEOUT_S,
                # the kernel listens on localhost with signed messages; its
                # "TCP without encryption" warning would print once per report
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                # every output is in by then; a graceful shutdown only adds ~0.5-1 s per report
                shutdown_kernel="immediate")
            return normalize(nb)
        except PapermillExecutionError as exc:
            raise NotebookFailed(_describe(exc), _read_partial(partial_path)) from None
        except Exception as exc:  # kernel start / death: retry once when it looks transient
            transient = isinstance(exc, TimeoutError) or any(h in str(exc) for h in _KERNEL_START_HINTS)
            if attempt == 1 and transient:
                continue
            raise NotebookFailed(f"kernel failure: {type(exc).__name__}: {exc}") from None
    raise AssertionError("unreachable")


def _describe(exc):
    evalue = str(exc.evalue).strip().splitlines()
    first = evalue[0] if evalue else ""
    return f"{exc.ename}: {first}" if first else exc.ename


def _read_partial(path):
    try:
        return normalize(nbformat.read(str(path), as_version=4)) if path else None
    except Exception:  # noqa: BLE001 - the partial notebook is a courtesy, never required
        return None


def normalize(nb):
    """Remove what varies between two runs of the same notebook on the same inputs.

    Papermill timings, nbclient's ``execution`` timestamps, the absolute input and
    output paths, and the random id nbformat gives the injected-parameters cell
    are dropped or replaced by fixed values.  Returns a normalised copy.
    """
    nb = copy.deepcopy(nb)
    pm = nb.metadata.get("papermill")
    if pm is not None:
        for key in _PM_VOLATILE:
            pm.pop(key, None)
        pm.pop("environment_variables", None)
    seen = set()
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        cell_pm = cell.metadata.get("papermill")
        if cell_pm is not None:
            for key in _PM_VOLATILE:
                cell_pm.pop(key, None)
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain")
            if isinstance(text, str) and " at 0x" in text:  # object reprs carry addresses
                output["data"]["text/plain"] = _ADDRESS.sub(" at 0x…>", text)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell["id"] = "injected-parameters"
        elif "papermill-error-cell-tag" in tags:  # papermill's error banners get random ids
            cell["id"] = f"papermill-error-{index}"
        elif not cell.get("id") or cell["id"] in seen:
            cell["id"] = f"cell-{index}"
        seen.add(cell["id"])
    return nb


def publish_parameters(nb, parameters):
    """Show `parameters` as the ones the executed notebook ran with.

    A render executes with staging paths (the hidden ``.<build>.partial`` directory);
    the published notebook must name the final ones.  Rewrites papermill's
    ``injected-parameters`` cell and its metadata the way papermill writes them; the
    outputs are untouched.  Returns a copy.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        An executed notebook with an ``injected-parameters`` cell.
    parameters : dict
        The parameters to show (str / int values).

    Returns
    -------
    nbformat.NotebookNode
    """
    from papermill.translators import translate_parameters

    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    if cells:
        language = nb.metadata.get("kernelspec", {}).get("language", "python")
        cells[0]["source"] = translate_parameters(KERNEL_NAME, language, parameters, "Parameters")
    nb.metadata.setdefault("papermill", {})["parameters"] = dict(parameters)
    return nb


def write_notebook(nb, path):
    """Write `nb` as .ipynb (nbformat's stable, key-sorted JSON)."""
    Path(path).write_text(nbformat.writes(nb), encoding="utf-8")


_EXPORTER = None


def _nbconvert_templates():
    """The directory of nbconvert's own templates (`lab`, `base`), or [] if not found.

    nbconvert looks for them under the Jupyter data paths of the running prefix; in a
    virtual environment that reuses the system's site-packages they lie under the
    system's prefix instead, so they are located through nbconvert's installed files.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("nbconvert")
    except PackageNotFoundError:
        return []
    for rel in dist.files or ():
        if rel.as_posix().endswith("nbconvert/templates/lab/index.html.j2"):
            return [str(Path(dist.locate_file(rel)).resolve().parents[1])]
    return []


def to_html(nb, title):
    """Export `nb` to one self-contained HTML page without code cells.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        An executed notebook.
    title : str
        The page title.

    Returns
    -------
    str
        HTML with images embedded and nothing fetched from anywhere.
    """
    global _EXPORTER
    if _EXPORTER is None:
        from nbconvert import HTMLExporter

        nbconvert_dirs = _nbconvert_templates()
        _EXPORTER = HTMLExporter(
            extra_template_basedirs=[str(TEMPLATES_DIR), *nbconvert_dirs],
            extra_template_paths=nbconvert_dirs, template_name=TEMPLATE_NAME,
            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
            embed_images=True, anchor_link_text="")
    nb = copy.deepcopy(nb)
    nb.metadata["title"] = title
    body, _ = _EXPORTER.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body
