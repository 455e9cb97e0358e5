"""Every lab event under every policy, analysed by ksaudit and compared with the lab's
truth (the sink): verdict agreement and leaked-probe agreement per cell.

Run (root): python3 benchmarks/lab_matrix.py [--ipv6] [--allow-lan] [--keep DIR]
           [--rig foreign [--steady-ms 1100]]   (evidence written by another rig)
           [--client NAME|FILE ...] [--policy P ...] [--event E ...]
Prints one markdown row per cell (client x event x policy; a policy a client cannot run,
such as `client` for the harness, is skipped); the cell is "ok" when analyze's verdict
equals the truth's expected verdict and the leaked probe seqs are the same sets.
Positive control: per client and event the `none` cell (run even when --policy leaves it
out) must leak, by the sink and by analyze (FAIL); where it does not, the harness could
not have seen a leak there, and every cell of that client and event is INCONCLUSIVE
instead of ok: a PASS of a kill switch proves nothing under an event that does not leak.
Exit 1 on a disagreement, else 3 when a cell is INCONCLUSIVE, else 0.
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


def _plan(args):
    """(client, event, policies) for every client and event: the `none` control first,
    then every other policy the client can run."""
    for client in args.client or [clients.DEFAULT]:
        runnable = []
        for policy in args.policy or POLICIES:
            try:
                clients.check(client, policy)
            except KsauditError:
                continue                # e.g. --policy client for the harness
            if policy != CONTROL:
                runnable.append(policy)
        for event in args.event or EVENTS:
            yield client, event, [CONTROL] + runnable


CONTROL = "none"                        # the positive control: no kill switch at all


def _run_cell(args, timing, tmp, client, policy, event):
    """Run one cell and analyse it: (truth, analysis, sink's leaked seqs, analyze's)."""
    out = os.path.join(tmp, "matrix", f"{_label(client)}-{policy}-{event}")
    res = runner.run(runner.RunOptions(event=event, policy=policy, out=out, ipv6=args.ipv6,
                                       allow_lan=args.allow_lan, timing=timing,
                                       steady_ms=args.steady_ms, rig=args.rig, client=client))
    a = analyze(out, deep=False)
    leaked = a.leaks[(a.leaks["rule"].astype(str) == "leak") & (a.leaks["probe_seq"] >= 0)]
    return res, a, _truth_outside(res.truth), set(leaked["probe_seq"].astype(int))


def _control_leaked(res, a) -> bool:
    """The positive control shows a leak: the sink got probes from outside the tunnel in an
    episode and analyze FAILs."""
    return any(t["leaked_probes"] for t in res.truth["trials"]) and a.verdict.status == "FAIL"


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
    print("| client | policy | event | truth | analyze | reasons | leaked probes truth/analyze "
          "| control | agree |")
    print("|---|---|---|---|---|---|---|---|---|")
    disagreements = inconclusive = 0
    t0 = time.monotonic()
    for client, event, policies in _plan(args):
        control = None
        for policy in policies:
            res, a, outside, found = _run_cell(args, timing, tmp, client, policy, event)
            if policy == CONTROL:
                control = "leaks" if _control_leaked(res, a) else "**no leak**"
            ok = a.verdict.status == res.expected_verdict and found == outside
            disagreements += not ok
            if ok and control != "leaks":
                inconclusive += 1       # the harness could not have seen a leak here
            agree = ("ok" if control == "leaks" else "INCONCLUSIVE") if ok else "**no**"
            reasons = ",".join(sorted({r.code for r in a.verdict.reasons}))
            print(f"| {_label(client)} | {policy} | {event} | {res.expected_verdict} | "
                  f"{a.verdict.status} | {reasons} | {len(outside)}/{len(found)} | {control} | "
                  f"{agree} |", flush=True)
    print(f"\n{disagreements} disagreement(s), {inconclusive} cell(s) INCONCLUSIVE (positive "
          f"control without a leak); {time.monotonic() - t0:.0f} s; directories in {tmp}")
    return 1 if disagreements else 3 if inconclusive else 0


if __name__ == "__main__":
    sys.exit(main())
