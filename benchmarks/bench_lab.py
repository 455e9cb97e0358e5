"""Lab repeatability and cost: wall time per run and the sink's leak figures over
repeated runs of each weak policy under its event (and strong under the same events).

Run (root): python3 benchmarks/bench_lab.py [--repeats 3] [--out benchmarks/results-lab.md]
Prints a markdown table; figures come from lab-truth.json (the sink), never the capture.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

from ksaudit.lab import runner

CASES = [
    ("none", "process-kill", {}),
    ("app-level", "process-kill", {}),
    ("weak-reconnect", "reconnect", {}),
    ("fail-open-sleep", "sleep-wake", {}),
    ("ipv4-only", "wifi-yank", {"ipv6": True}),
    ("strong", "process-kill", {}),
    ("strong", "sleep-wake", {"ipv6": True, "allow_lan": True}),
]


def _fmt(values, unit=""):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.0f}{unit}"
    return f"{min(values):.0f}–{max(values):.0f}{unit} (med {statistics.median(values):.0f})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    rows = ["| policy / event | runs | wall s per run | verdicts | leaked probes | down→first leak ms | "
            "first→last leak ms | episode ms | dropped |",
            "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="ksaudit-bench-lab-") as tmp:
        for policy, event, flags in CASES:
            walls, leaked, first, window, episode, verdicts, dropped = [], [], [], [], [], set(), 0
            for r in range(args.repeats):
                out = os.path.join(tmp, f"{policy}-{event}-{r}")
                t0 = time.monotonic()
                res = runner.run(runner.RunOptions(event=event, policy=policy, out=out, **flags))
                walls.append(time.monotonic() - t0)
                trial = res.truth["trials"][0]
                verdicts.add(res.expected_verdict)
                leaked.append(trial["leaked_probes"])
                episode.append((trial["restored_ns"] - trial["down_ns"]) / 1e6)
                dropped += sum(c["dropped"] for c in res.truth["captures"])
                if trial["leaked"]:
                    first.append((trial["first_leak_arrival_ns"] - trial["down_ns"]) / 1e6)
                    window.append((trial["last_leak_arrival_ns"] - trial["first_leak_arrival_ns"]) / 1e6)
            flag_text = "".join(f" --{k.replace('_', '-')}" for k in flags)
            rows.append(f"| {policy} / {event}{flag_text} | {args.repeats} | "
                        f"{min(walls):.1f}–{max(walls):.1f} | {'/'.join(sorted(verdicts))} | "
                        f"{_fmt(leaked)} | {_fmt(first)} | {_fmt(window)} | {_fmt(episode)} | {dropped} |")
            print(rows[-1], flush=True)
    text = "\n".join(rows) + "\n"
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
