"""Leak analysis: episodes, every frame classified, leak windows, fail-closed verdicts.

``analyze(scenario_dir) -> Analysis`` is the entry point; the stages live in
``inputs`` (evidence, SHA-256), ``classify``
(rule per frame), ``episodes`` (tunnel-down episodes), ``figures`` (per-episode
figures), ``evidence`` (deep dissection), ``verdict`` (PASS / FAIL / INCONCLUSIVE).
"""

from ksaudit.leaks.analysis import Analysis, analyze
from ksaudit.leaks.classify import RULES
from ksaudit.leaks.figures import Episode
from ksaudit.leaks.verdict import FAIL, INCONCLUSIVE, PASS, Reason, Verdict

__all__ = ["Analysis", "Episode", "FAIL", "INCONCLUSIVE", "PASS", "RULES", "Reason",
           "Verdict", "analyze"]
