"""Deep-dissected evidence of leaked frames (DNS name, TLS SNI, HTTP Host), capped.

Only the first `cap` leaked frames (rule ``leak``, by time) of each episode and
of the steady state are dissected, through `ksaudit.dissect`, one call per capture.
"""

from __future__ import annotations


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
    chosen = sent.groupby("episode", sort=True).head(cap)
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
