"""Repeated trials: leak probability with a Wilson interval, and the window distribution.

The lab's ``--trials N`` repeats the event N times in one scenario, so each
tunnel-down episode is one trial.
"""

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(successes, trials, z=Z_95):
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes : int
        Trials with the outcome (here: episodes that leaked).
    trials : int
        All trials; 0 gives the uninformative interval (0.0, 1.0).
    z : float
        Normal quantile; the default gives a 95 % interval.

    Returns
    -------
    (float, float)
        Lower and upper bound, within [0, 1].
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    # at the edges the bound is exact; keep it from drifting by rounding
    return (0.0 if successes == 0 else lo), (1.0 if successes == trials else hi)


@dataclass(frozen=True)
class TrialSummary:
    """Leak statistics over a scenario's episodes (trials)."""
    trials: int
    leaked: int
    probability: float | None
    ci_low: float
    ci_high: float
    windows_us: tuple            # exposure windows of the leaking episodes, sorted
    median_window_us: int | None
    max_window_us: int | None


def trial_summary(episodes):
    """Summarise the episodes of an analysis document as repeated trials.

    Parameters
    ----------
    episodes : list of dict
        ``analysis["episodes"]`` (each with ``leaked_frames`` and ``window_us``).
        Episodes that are INCONCLUSIVE prove nothing either way and are not trials;
        nor are episodes outside the test window (``in_window`` false).

    Returns
    -------
    TrialSummary
    """
    counted = [ep for ep in episodes
               if ep.get("verdict") != "INCONCLUSIVE" and ep.get("in_window", True)]
    leaked = [ep for ep in counted if ep.get("leaked_frames")]
    windows = tuple(sorted(int(ep.get("window_us") or 0) for ep in leaked))
    lo, hi = wilson_interval(len(leaked), len(counted))
    median = None
    if windows:
        mid = len(windows) // 2
        median = windows[mid] if len(windows) % 2 else (windows[mid - 1] + windows[mid]) // 2
    return TrialSummary(trials=len(counted), leaked=len(leaked),
                        probability=(len(leaked) / len(counted)) if counted else None,
                        ci_low=lo, ci_high=hi, windows_us=windows, median_window_us=median,
                        max_window_us=windows[-1] if windows else None)
