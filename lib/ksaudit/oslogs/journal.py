"""What journald's formats share (``journald_json``, ``journald_export``): the µs
quantum of its stamps and the clock steps hidden in realtime − monotonic.

A jump in realtime − monotonic within one boot (a clock step, or a suspend:
monotonic excludes it) is reported as an extra ``clock_step`` event so alignment
can split the clock there.
"""

import numpy as np
import pandas as pd

QUANTUM_NS = 1000
STEP_MIN_NS = 20_000_000       # realtime-monotonic jumps above this split the clock ...
STEP_PPM = 1000                # ... plus what a slewing clock may drift (1000 ppm)


def step_event(line, rt_us, jump_ns, boot, mono_us):
    """The synthetic clock_step event for a realtime − monotonic jump."""
    return {"ts_ns": rt_us * 1000, "raw_ts": str(rt_us), "quantum_ns": QUANTUM_NS,
            "tz_source": "assumed-utc", "line": line, "kind": "clock_step", "boot_id": boot,
            "mono_ns": mono_us * 1000, "ident": "journald",
            "message": f"journald: realtime-monotonic offset jumped by {jump_ns / 1e6:+.3f} ms "
                       "(clock step or suspend)"}


def clock_steps(lines, rt_us, mono_us, boot):
    """clock_step rows where realtime − monotonic jumps within one boot.

    Parameters
    ----------
    lines : int64 array (line or record numbers)
    rt_us, mono_us : int64 arrays (µs; -1 where unknown)
    boot : object array of boot ids

    Returns
    -------
    generator of event rows (``step_event``)
    """
    have = np.flatnonzero((rt_us >= 0) & (mono_us >= 0))
    if len(have) < 2:
        return
    codes, _ = pd.factorize(boot[have])
    order = np.argsort(codes, kind="stable")
    idx = have[order]
    same = codes[order][1:] == codes[order][:-1]
    delta = rt_us[idx] - mono_us[idx]
    jump_ns = np.diff(delta) * 1000
    allowed = STEP_MIN_NS + np.abs(np.diff(mono_us[idx])) * STEP_PPM // 1000
    for j in np.flatnonzero(same & (np.abs(jump_ns) > allowed)):
        r = idx[j + 1]
        yield step_event(int(lines[r]), int(rt_us[r]), int(jump_ns[j]), boot[r], int(mono_us[r]))
