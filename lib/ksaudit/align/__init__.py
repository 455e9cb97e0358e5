"""Align: put captures and log events on the reference clock, with their uncertainty.

``clocks`` (declared clock models, validated once), ``events`` (`align`: event table
onto the reference clock per clock segment), ``captures`` (frames of non-reference
captures, by the same models), ``envelope`` (the anchor fit), ``segments`` (clock
splits), ``scenario`` (all of it for one scenario, with the reasons it finds).
Names are re-exported lazily: ``import ksaudit`` loads this package, not numpy.
"""

from importlib import import_module

_EXPORTS = {
    "Alignment": "events", "UNALIGNED_NS": "events", "align": "events",
    "CapturePlacement": "captures", "place_capture": "captures",
    "ClockModel": "clocks", "parse_clock": "clocks", "parse_clocks": "clocks",
    "FitResult": "envelope", "fit_lower_envelope": "envelope",
    "TimeBase": "scenario", "align_scenario": "scenario",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ksaudit.align' has no attribute {name!r}")
    return getattr(import_module(f"ksaudit.align.{module}"), name)
