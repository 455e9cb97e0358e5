"""Why a verdict is not PASS: one `Reason` type from the stage that finds it to the report.

Every stage that can find a reason (clock alignment, the inputs, the episodes) makes a
`Reason`; the verdict (`ksaudit.leaks.verdict`) decides on them and the analysis
document publishes them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

FAIL_CODES = ("leak", "steady_state_leak")
INCONCLUSIVE_CODES = ("capture_gap", "dropped_packets", "truncated_capture", "no_tunnel_down",
                      "clock_uncertainty", "log_missing", "no_traffic_attempted",
                      "device_addresses_unknown", "declarations_contradicted",
                      "incomplete_evidence")


@dataclass(frozen=True)
class Reason:
    """Why a verdict is not PASS; `episode` is the 1-based id or None (whole scenario)."""
    code: str
    message: str
    episode: int | None = None

    def __post_init__(self):
        if self.code not in FAIL_CODES + INCONCLUSIVE_CODES:
            raise ValueError(f"unknown reason code {self.code!r}")

    def for_episode(self, episode: int) -> "Reason":
        """The same reason, held by one episode."""
        return Reason(self.code, self.message, episode)

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "episode": self.episode}
