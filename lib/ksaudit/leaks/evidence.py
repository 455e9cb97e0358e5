"""Deep-dissected evidence of leaked frames (DNS name, TLS SNI, HTTP Host), capped.

Only the first `cap` leaked frames (rule ``leak``, by time) of each episode and
of the steady state are dissected, through `ksaudit.dissect`, one call per capture.
The same packet seen at two vantage points is shown once: frames come from the
capture that saw the most leaks in the episode, others only for flows it did not see.
"""

from __future__ import annotations

import pandas as pd

_FLOW = ["src", "dst", "proto", "sport", "dport"]


def _choose(sent: pd.DataFrame, cap: int) -> pd.DataFrame:
    parts = []
    for _, grp in sent.groupby("episode", sort=True):
        main = grp["capture"].value_counts().sort_index().idxmax()
        own = grp[grp["capture"] == main]
        flows = set(map(tuple, own[_FLOW].astype(str).to_numpy()))
        rest = grp[grp["capture"] != main]
        other = rest[[tuple(r) not in flows for r in rest[_FLOW].astype(str).to_numpy()]]
        parts.append(pd.concat([own, other]).sort_values(["ts_ns", "capture", "frame"],
                                                          kind="stable").head(cap))
    return pd.concat(parts) if parts else sent.head(0)


def dissect_leaks(sc, caps, leaks, cap: int) -> dict:
    """{episode id (0 = steady state): tuple of evidence dicts}, each sorted by time.

    Parameters
    ----------
    sc : Scenario
    caps : list of CaptureData
    leaks : DataFrame
        Leak rows sorted by ``ts_ns``, with ``capture``, ``frame``, ``episode``, ``rule``.
    cap : int
        Frames dissected per episode.
    """
    if cap <= 0 or leaks.empty:
        return {}
    from ksaudit import dissect
    sent = leaks[leaks["rule"].astype(str) == "leak"]
    chosen = _choose(sent, cap)
    found = {}
    for ci, grp in chosen.groupby("capture", sort=True):
        table = dissect(str(sc.path(caps[int(ci)].file)), [int(f) for f in grp["frame"]])
        for row in table.itertuples(index=False):
            found[(int(ci), int(row.frame))] = row
    out = {}
    for r in chosen.itertuples(index=False):
        d = found.get((int(r.capture), int(r.frame)))
        item = {"capture": caps[int(r.capture)].file, "frame": int(r.frame),
                "ts_ns": int(r.ts_ns),
                "dns_query": getattr(d, "dns_query", "") if d is not None else "",
                "tls_sni": (getattr(d, "tls_sni", "") or getattr(d, "quic_sni", ""))
                if d is not None else "",
                "http_host": getattr(d, "http_host", "") if d is not None else "",
                "summary": getattr(d, "summary", "") if d is not None else ""}
        out.setdefault(int(r.episode), []).append(item)
    return {k: tuple(v) for k, v in out.items()}
