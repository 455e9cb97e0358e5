import pytest

from ksaudit.report.stats import trial_summary, wilson_interval


def test_wilson_matches_published_values():
    # Newcombe (1998), Table I: 81/263 -> 0.2553 – 0.3662; 0/10 -> 0 – 0.2775
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


def test_inconclusive_episodes_are_not_trials():
    eps = [{"verdict": "FAIL", "leaked_frames": 3, "window_us": 30},
           {"verdict": "FAIL", "leaked_frames": 1, "window_us": 10},
           {"verdict": "PASS", "leaked_frames": 0, "window_us": None},
           {"verdict": "INCONCLUSIVE", "leaked_frames": 0, "window_us": None}]
    t = trial_summary(eps)
    assert (t.trials, t.leaked, t.windows_us, t.median_window_us, t.max_window_us) == \
        (3, 2, (10, 30), 20, 30)
    assert t.probability == pytest.approx(2 / 3)
