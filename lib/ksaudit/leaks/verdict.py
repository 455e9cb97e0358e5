"""Verdicts fail closed: PASS only when the evidence proves it (DESIGN.md).

FAIL on any leak (also with other reasons present); otherwise INCONCLUSIVE on
any reason; PASS needs at least one episode and no reason at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ksaudit.reasons import FAIL_CODES, INCONCLUSIVE_CODES, Reason

__all__ = ["FAIL", "FAIL_CODES", "INCONCLUSIVE", "INCONCLUSIVE_CODES", "PASS", "Reason", "Verdict",
           "decide"]

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"


@dataclass(frozen=True)
class Verdict:
    status: str
    reasons: tuple = ()

    @property
    def exit_code(self) -> int:
        return {PASS: 0, FAIL: 1, INCONCLUSIVE: 3}[self.status]


def decide(reasons, *, has_episode: bool = True) -> Verdict:
    """The verdict for a set of reasons.

    Parameters
    ----------
    reasons : iterable of Reason
    has_episode : bool
        False when there is nothing to judge (then PASS is impossible).

    Returns
    -------
    Verdict
        FAIL if any reason is a leak; else INCONCLUSIVE if any reason (or no
        episode); else PASS.
    """
    reasons = tuple(reasons)
    if any(r.code in FAIL_CODES for r in reasons):
        return Verdict(FAIL, reasons)
    if reasons or not has_episode:
        return Verdict(INCONCLUSIVE, reasons)
    return Verdict(PASS, reasons)
