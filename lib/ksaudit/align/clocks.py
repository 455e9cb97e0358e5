"""Declared clocks: one model per named clock, validated once, applied alike to events and frames.

scenario.yaml ``clocks: {name: {offset_ns: N, skew_ppm: P, uncertainty_ns: U}}`` says
how a clock relates to true time: true = t + N + P·1e-6·(t − pivot), within ±U.  The
pivot is the moment the offset was measured at; ksaudit takes the first frame of the
scenario's reference capture (the start of the run), so a 40 ppm skew moves an event an
hour into the run by 144 ms.  Relative to the reference clock a clock's model is its own
minus the reference's (offsets and skews subtract, uncertainties add).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ksaudit.errors import KsauditError

# beyond these a declaration is a typo, not a clock: a quartz clock drifts by tens of
# ppm; an offset or uncertainty over ~146 years cannot be added to an epoch in int64
MAX_SKEW_PPM = 10_000.0
MAX_OFFSET_NS = 2**62
_KEYS = ("offset_ns", "skew_ppm", "uncertainty_ns")


@dataclass(frozen=True)
class ClockModel:
    """reference = t + offset_ns + skew_ppm·1e-6·(t − pivot_ns), within ±uncertainty_ns."""
    offset_ns: int = 0
    skew_ppm: float = 0.0
    uncertainty_ns: int = 0

    def offset_at(self, t_ns, pivot_ns: int):
        """reference − t (int64 ns) at clock times `t_ns` (array or int)."""
        t = np.asarray(t_ns, dtype="int64")
        drift = np.rint((t - np.int64(pivot_ns)).astype("float64") * (self.skew_ppm * 1e-6))
        out = self.offset_ns + drift.astype("int64")
        return out if t.ndim else int(out)

    def relative_to(self, reference: "ClockModel") -> "ClockModel":
        """This clock's model relative to the reference clock's own declaration."""
        return ClockModel(self.offset_ns - reference.offset_ns,
                          self.skew_ppm - reference.skew_ppm,
                          self.uncertainty_ns + reference.uncertainty_ns)

    def to_dict(self) -> dict:
        return {"offset_ns": self.offset_ns, "skew_ppm": self.skew_ppm,
                "uncertainty_ns": self.uncertainty_ns}


def _integer(value, where, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise KsauditError(f"{where}: must be an integer (ns), got {value!r}")
    value = int(value)
    if not minimum <= value <= MAX_OFFSET_NS:
        raise KsauditError(f"{where}: {value} is out of range ({minimum} .. {MAX_OFFSET_NS})")
    return value


def parse_clock(spec, where: str) -> ClockModel:
    """One clock's declaration (a mapping, a bare offset in ns, or a ClockModel)."""
    if isinstance(spec, ClockModel):
        return spec
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        spec = {"offset_ns": spec}
    if not isinstance(spec, dict):
        raise KsauditError(f"{where}: expected {{offset_ns: N, skew_ppm: P, uncertainty_ns: U}}, "
                           f"got {spec!r}")
    unknown = sorted(str(k) for k in spec if k not in _KEYS)
    if unknown:
        raise KsauditError(f"{where}: unknown key(s) {unknown} (allowed: {', '.join(_KEYS)})")
    skew = spec.get("skew_ppm", 0.0)
    if isinstance(skew, bool) or not isinstance(skew, (int, float, np.integer, np.floating)):
        raise KsauditError(f"{where}.skew_ppm: must be a number, got {skew!r}")
    skew = float(skew)
    if not math.isfinite(skew) or abs(skew) > MAX_SKEW_PPM:
        raise KsauditError(f"{where}.skew_ppm: {skew!r} is not a clock rate (finite, within "
                           f"±{MAX_SKEW_PPM:g} ppm)")
    return ClockModel(_integer(spec.get("offset_ns", 0), f"{where}.offset_ns", -MAX_OFFSET_NS),
                      skew,
                      _integer(spec.get("uncertainty_ns", 0), f"{where}.uncertainty_ns", 0))


def parse_clocks(raw, where: str = "clocks") -> dict:
    """{name: ClockModel} from scenario.yaml ``clocks`` (None or a mapping)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise KsauditError(f"{where}: must be a mapping of clock name to {{offset_ns: N}}, "
                           f"got {raw!r}")
    return {str(name): parse_clock(spec, f"{where}.{name}") for name, spec in raw.items()}


def relative_model(models: dict, clock: str, reference: str) -> ClockModel | None:
    """`clock`'s model relative to `reference`: identity for the reference itself,
    None when `clock` is not declared."""
    if clock == reference:
        return ClockModel()
    if clock not in models:
        return None
    return models[clock].relative_to(models.get(reference, ClockModel()))
