"""Benchmark `ksaudit render`: one scenario report, and a 12-scenario build.

Usage (from the repository root):
    python3 benchmarks/bench_report.py [--samples captures/samples/2026.11.0-lab] [--jobs 2]

Builds are copies of the lab's sample scenarios in a temporary directory (12: the
sample build's first 12 scenarios, repeated under new names if it has fewer).  Prints a Markdown
table with wall-clock seconds and the load average around each measurement; the
machine is shared, so the load is part of the figure.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _load():
    return "{:.1f}/{:.1f}".format(*os.getloadavg()[:2])


def _build(samples, dest, count):
    scenarios = sorted(p for p in Path(samples).iterdir() if (p / "scenario.yaml").is_file())
    if not scenarios:
        sys.exit(f"{samples}: no scenarios")
    for i in range(count):
        src = scenarios[i % len(scenarios)]
        name = src.name if i < len(scenarios) else f"{src.name}-copy{i // len(scenarios)}"
        shutil.copytree(src, dest / name)
    return dest


def main():
    from ksaudit.report import render

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="captures/samples/2026.11.0-lab")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--scenario", default="none-process-kill",
                        help="sample scenario for the one-scenario figures")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ksaudit-bench-") as tmp:
        tmp = Path(tmp)
        one = tmp / "captures" / "one"
        shutil.copytree(Path(args.samples) / args.scenario, one / args.scenario)
        # one scenario's report alone: kernel start, analysis, figures, nbconvert
        work = tmp / "work"
        work.mkdir()
        task = {"name": args.scenario, "scenario_dir": str(one / args.scenario), "work_dir": str(work),
                "cwd": os.getcwd(), "notebook": str(render.REPORT_NOTEBOOK), "build_root": str(one)}
        render.render_scenario(task)  # warm the numba cache and the file cache once
        for attempt in (1, 2, 3):
            load = _load()
            t = time.perf_counter()
            entry = render.render_scenario(task)
            rows.append((f"one scenario report ({args.scenario}), run {attempt}",
                         time.perf_counter() - t, load, entry["verdict"]))
        load = _load()
        t = time.perf_counter()
        result = render.render_build(one, tmp / "reports" / "one", jobs=1, progress=False)
        rows.append(("`ksaudit render` of a 1-scenario build (report + index + hashes)",
                     time.perf_counter() - t, load, result.summary["verdict"]))
        twelve = _build(args.samples, tmp / "captures" / "twelve", 12)
        for attempt in (1, 2):
            load = _load()
            t = time.perf_counter()
            result = render.render_build(twelve, tmp / "reports" / "twelve", jobs=args.jobs,
                                         progress=False)
            rows.append((f"12-scenario build, --jobs {args.jobs}, run {attempt}",
                         time.perf_counter() - t, load, result.summary["verdict"]))
    print("| measurement | seconds | load avg (1/5 min) before | verdict |")
    print("|---|---:|---|---|")
    for name, seconds, load, verdict in rows:
        print(f"| {name} | {seconds:.1f} | {load} | {verdict} |")


if __name__ == "__main__":
    main()
