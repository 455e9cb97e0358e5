import numpy as np
import pytest

from ksaudit.align import fit_lower_envelope


def test_lower_envelope_ignores_delays_least_squares_would_follow():
    x = np.arange(100, dtype="int64") * 1_000_000_000
    delays = np.zeros(100, "int64")
    delays[50:] = 5_000_000          # the second half is queued: least squares would tilt
    delays[::10] = 0
    fit = fit_lower_envelope(x, x + 777 + delays)
    assert fit.model == "offset+skew"
    assert abs(fit.skew_ppm) < 1e-6
    assert fit.offset_ns == 777
    assert fit.residual_max_ns == 5_000_000


def test_exact_line_recovered():
    x = 10**18 + np.arange(50, dtype="int64") * 500_000_000
    y = x + 1_234_567 + ((x - x[0]) * 25 // 1_000_000)       # 25 ppm
    fit = fit_lower_envelope(x, y)
    assert abs(fit.skew_ppm - 25) < 1e-6
    assert abs(fit.offset_at(x[0]) - 1_234_567) <= 1
    assert abs(fit.offset_at(x[-1]) - (1_234_567 + (x[-1] - x[0]) * 25 // 1_000_000)) <= 1
    assert fit.bound_ns == 1000      # the anchors' own resolution


def test_error_grows_outside_the_span():
    rng = np.random.default_rng(3)
    x = np.arange(100, dtype="int64") * 1_000_000_000
    fit = fit_lower_envelope(x, x + rng.integers(0, 100_000, 100))
    inside = fit.error_ns(x[50])
    assert fit.error_ns(x[-1] + 100 * 10**9) > inside == fit.bound_ns


def test_needs_points():
    with pytest.raises(ValueError):
        fit_lower_envelope([], [])
