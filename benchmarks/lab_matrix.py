"""Every lab event under every policy, analysed by ksaudit and compared with the lab's
truth (the sink): verdict agreement and leaked-probe agreement per cell.

Run (root): python3 benchmarks/lab_matrix.py [--ipv6] [--allow-lan] [--keep DIR]
           [--rig foreign [--steady-ms 1100]]   (evidence written by another rig)
           [--client NAME|FILE ...] [--policy P ...] [--event E ...]
Prints one markdown row per cell (client x policy x event; a policy a client cannot run,
such as `client` for the harness, is skipped); the cell is "ok" when analyze's verdict
equals the truth's expected verdict and the leaked probe seqs are the same sets.
"""

import argparse
import os
import sys
import tempfile
import time

from ksaudit import analyze
from ksaudit.errors import KsauditError
from ksaudit.lab import EVENTS, POLICIES, clients, events, runner


def _truth_outside(truth):
    seqs = set()
    for part in truth["trials"] + [truth["steady_state"]]:
        seqs |= set(part["outside_seqs"])
    return seqs


def _label(client):
    """A client's name in the table: its name, or a client file's stem."""
    return os.path.splitext(os.path.basename(client))[0]


def _cells(args):
    """(client, policy, event) for every cell the clients can run."""
    for client in args.client or [clients.DEFAULT]:
        for policy in args.policy or POLICIES:
            try:
                clients.check(client, policy)
            except KsauditError:
                continue                # e.g. --policy client for the harness
            for event in args.event or EVENTS:
                yield client, policy, event


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ipv6", action="store_true")
    ap.add_argument("--allow-lan", action="store_true")
    ap.add_argument("--keep", help="keep the scenario directories here")
    ap.add_argument("--down-ms", type=int, default=600)
    ap.add_argument("--rig", choices=runner.RIGS, default="lab")
    ap.add_argument("--steady-ms", type=int, default=300)
    ap.add_argument("--client", action="append", metavar="NAME|FILE",
                    help=f"repeatable; default {clients.DEFAULT}")
    ap.add_argument("--policy", action="append", choices=POLICIES, help="repeatable; default all")
    ap.add_argument("--event", action="append", choices=EVENTS, help="repeatable; default all")
    args = ap.parse_args(argv)
    timing = events.Timing(down_ms=args.down_ms, settle_ms=200, reconnect_gap_ms=400)
    tmp = args.keep or tempfile.mkdtemp(prefix="ksaudit-labmatrix-")
    print("| client | policy | event | truth | analyze | reasons | leaked probes truth/analyze | agree |")
    print("|---|---|---|---|---|---|---|---|")
    disagreements = 0
    t0 = time.monotonic()
    for client, policy, event in _cells(args):
        out = os.path.join(tmp, "matrix", f"{_label(client)}-{policy}-{event}")
        res = runner.run(runner.RunOptions(event=event, policy=policy, out=out, ipv6=args.ipv6,
                                           allow_lan=args.allow_lan, timing=timing,
                                           steady_ms=args.steady_ms, rig=args.rig, client=client))
        a = analyze(out, deep=False)
        outside = _truth_outside(res.truth)
        leaked = a.leaks[(a.leaks["rule"].astype(str) == "leak") & (a.leaks["probe_seq"] >= 0)]
        found = set(leaked["probe_seq"].astype(int))
        reasons = ",".join(sorted({r.code for r in a.verdict.reasons}))
        ok = a.verdict.status == res.expected_verdict and found == outside
        disagreements += not ok
        print(f"| {_label(client)} | {policy} | {event} | {res.expected_verdict} | {a.verdict.status} | "
              f"{reasons} | {len(outside)}/{len(found)} | {'ok' if ok else '**no**'} |", flush=True)
    print(f"\n{disagreements} disagreement(s); {time.monotonic() - t0:.0f} s; directories in {tmp}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
