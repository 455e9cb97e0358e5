"""Kernel-start retry and normalisation, without starting kernels."""

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from ksaudit.report import execute


def _fake(monkeypatch, failures):
    calls = []

    def fake_execute(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return new_notebook(cells=[new_code_cell("1")])

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    return calls


def test_slow_kernel_start_is_retried_once(monkeypatch):
    calls = _fake(monkeypatch, [RuntimeError("Kernel didn't respond in 60 seconds")])
    nb = execute.execute_notebook("x.ipynb", {})
    assert len(calls) == 2 and nb.cells[0].source == "1"
    assert calls[0]["kernel_name"] == "python3" and calls[0]["shutdown_kernel"] == "immediate"


def test_second_slow_start_and_other_failures_are_not_retried(monkeypatch):
    calls = _fake(monkeypatch, [TimeoutError("start"), TimeoutError("start again")])
    with pytest.raises(execute.NotebookFailed, match="kernel failure: TimeoutError: start again"):
        execute.execute_notebook("x.ipynb", {})
    assert len(calls) == 2
    calls = _fake(monkeypatch, [OSError("no such kernel binary")])
    with pytest.raises(execute.NotebookFailed, match="no such kernel binary"):
        execute.execute_notebook("x.ipynb", {})
    assert len(calls) == 1


def test_normalize_removes_timings_random_ids_and_addresses():
    nb = new_notebook(cells=[new_code_cell("x", metadata={"tags": ["injected-parameters"],
                                                          "papermill": {"duration": 1.5, "status": "completed"},
                                                          "execution": {"iopub.status.busy": "t"}}),
                             new_code_cell("y", metadata={"tags": ["papermill-error-cell-tag"]})])
    nb.cells[1].outputs = [new_output("execute_result", {"text/plain": "<Figure at 0x7f00deadbeef>"},
                                      execution_count=1)]
    nb.metadata["papermill"] = {"start_time": "now", "duration": 2.0, "input_path": "/abs/x.ipynb",
                                "parameters": {"a": 1}}
    out = execute.normalize(nb)
    assert out.metadata.papermill == {"parameters": {"a": 1}}
    assert out.cells[0].metadata == {"tags": ["injected-parameters"], "papermill": {"status": "completed"}}
    assert [c["id"] for c in out.cells] == ["injected-parameters", "papermill-error-1"]
    assert out.cells[1].outputs[0]["data"]["text/plain"] == "<Figure at 0x…>"
    assert nbformat.writes(out) == nbformat.writes(execute.normalize(nb))
