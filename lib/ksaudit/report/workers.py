"""Run the per-scenario renders: local worker processes that die with the render, or Dask.

Local workers are spawned processes in the render's process group (a ``kill`` of the
group reaches them) that ignore SIGINT, so Ctrl-C is handled once, by the render, which
then kills them; each asks the kernel for SIGKILL when the render dies (Linux
``PR_SET_PDEATHSIG``), so a SIGKILLed render leaves no worker running.  A worker's
Jupyter kernel exits when its worker does (ipykernel polls its parent).
"""

import contextlib
import ctypes
import os
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

from ksaudit.errors import KsauditError

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid):
    """Worker initializer: no SIGINT of its own, SIGKILL when the render goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the render died before prctl took effect
        os._exit(1)


class LocalPool:
    """Spawned worker processes that die with the render (a context manager).

    Leaving the with-block by an exception (Ctrl-C and SIGTERM included) kills every
    worker at once instead of waiting for the running renders.
    """

    def __init__(self, jobs):
        self.jobs = max(1, jobs)

    def __enter__(self):
        self.pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=get_context("spawn"),
                                        initializer=_die_with_parent, initargs=(os.getpid(),))
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.pool.shutdown(wait=True)
            return
        # ProcessPoolExecutor cannot stop running tasks; its worker processes are in
        # `_processes` (pid -> Process) on every supported Python
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.kill()
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def map(self, fn, tasks, progress, on_error):
        """`{task name: fn(task)}`; `on_error(exception, task)` for a task whose worker failed.

        `fn` is a module-level function taking one task dict (with a ``name``);
        `progress` (a tqdm) advances by one per finished task.
        """
        futures = {self.pool.submit(fn, t): t for t in tasks}
        return _collect(as_completed(futures), futures.__getitem__, progress, on_error)


class DaskPool:
    """The same interface on a Dask distributed scheduler (``tcp://host:port``)."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def __enter__(self):
        try:
            from distributed import Client
        except ImportError:
            raise KsauditError("--scheduler needs the 'distributed' package") from None
        try:
            self.client = Client(self.scheduler, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise KsauditError(f"--scheduler {self.scheduler}: cannot connect: {exc}") from None
        self.futures = []
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            with contextlib.suppress(Exception):
                self.client.cancel(self.futures, force=True)
        self.client.close()

    def map(self, fn, tasks, progress, on_error):
        from distributed import as_completed as dask_completed

        futures = self.client.map(fn, tasks, pure=False)
        self.futures += futures
        by_key = {f.key: t for f, t in zip(futures, tasks)}
        return _collect(dask_completed(futures, loop=self.client.loop),
                        lambda f: by_key[f.key], progress, on_error)


def _collect(done, task_of, progress, on_error):
    results = {}
    for fut in done:
        task = task_of(fut)
        try:
            results[task["name"]] = fut.result()
        except Exception as exc:  # noqa: BLE001 - a crashed worker is that task's ERROR
            results[task["name"]] = on_error(exc, task)
        progress.update(1)
    return results
