"""Every lab event under every policy, analysed by ksaudit and compared with the lab's
truth (the sink): verdict agreement and leaked-probe agreement per cell.

Run (root): python3 benchmarks/lab_matrix.py [--ipv6] [--allow-lan] [--keep DIR]
           [--rig foreign [--steady-ms 1100]]   (evidence written by another rig)
Prints one markdown row per cell; the cell is "ok" when analyze's verdict equals the
truth's expected verdict and the leaked probe seqs are the same sets.
"""

import argparse
import os
import sys
import tempfile
import time

from ksaudit import analyze
from ksaudit.lab import EVENTS, POLICIES, events, runner


def _truth_outside(truth):
    seqs = set()
    for part in truth["trials"] + [truth["steady_state"]]:
        seqs |= set(part["outside_seqs"])
    return seqs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ipv6", action="store_true")
    ap.add_argument("--allow-lan", action="store_true")
    ap.add_argument("--keep", help="keep the scenario directories here")
    ap.add_argument("--down-ms", type=int, default=600)
    ap.add_argument("--rig", choices=runner.RIGS, default="lab")
    ap.add_argument("--steady-ms", type=int, default=300)
    args = ap.parse_args(argv)
    timing = events.Timing(down_ms=args.down_ms, settle_ms=200, reconnect_gap_ms=400)
    tmp = args.keep or tempfile.mkdtemp(prefix="ksaudit-labmatrix-")
    print("| policy | event | truth | analyze | reasons | leaked probes truth/analyze | agree |")
    print("|---|---|---|---|---|---|---|")
    disagreements = 0
    t0 = time.monotonic()
    for policy in POLICIES:
        for event in EVENTS:
            out = os.path.join(tmp, "matrix", f"{policy}-{event}")
            res = runner.run(runner.RunOptions(event=event, policy=policy, out=out, ipv6=args.ipv6,
                                               allow_lan=args.allow_lan, timing=timing,
                                               steady_ms=args.steady_ms, rig=args.rig))
            a = analyze(out, deep=False)
            outside = _truth_outside(res.truth)
            leaked = a.leaks[(a.leaks["rule"].astype(str) == "leak") & (a.leaks["probe_seq"] >= 0)]
            found = set(leaked["probe_seq"].astype(int))
            reasons = ",".join(sorted({r.code for r in a.verdict.reasons}))
            ok = a.verdict.status == res.expected_verdict and found == outside
            disagreements += not ok
            print(f"| {policy} | {event} | {res.expected_verdict} | {a.verdict.status} | {reasons} | "
                  f"{len(outside)}/{len(found)} | {'ok' if ok else '**no**'} |", flush=True)
    print(f"\n{disagreements} disagreement(s); {time.monotonic() - t0:.0f} s; directories in {tmp}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
