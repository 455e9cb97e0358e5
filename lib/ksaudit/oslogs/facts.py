"""What reading one log file established: one frozen ``LogFacts`` per file.

``read_events`` makes it once (``df.attrs["files"]``); ``leaks.inputs.load_logs``
passes it on unchanged (only its ``file`` made relative to the scenario) into
``Analysis.logs``, the analysis document's ``logs`` list and the report.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Malformed:
    """A line (or record) that is not a valid entry of the file's format."""
    line: int          # 1-based line (record number for EVTX)
    text: str          # the line, cut to 200 characters
    reason: str

    def to_dict(self) -> dict:
        return {"line": self.line, "text": self.text, "reason": self.reason}


@dataclass(frozen=True)
class LogFacts:
    """One log file as read.

    ``chosen_by`` is "declared" (the format was given) or "sniffed" (``format:
    auto``), None for a missing file; ``sniff_score`` is the chosen format's score
    on the file's first lines after any preamble (0..1).  ``timezone`` is the zone
    given for zone-less stamps and ``timezone_source`` where it came from
    ("declared": by the caller or scenario.yaml; None: no zone was given, and none
    is ever assumed for zone-less stamps); ``stamp_zones`` counts how each event's
    stamp got its zone ("declared": the given zone was applied, "explicit": the
    line carries its offset, "assumed-utc": epoch stamps, UTC by definition).  ``preamble_lines`` lines (1..n) before the
    first event were skipped as a preamble (a banner) and are not malformed;
    ``malformed`` counts the bad lines after it, the first few in
    ``malformed_examples``.  ``quantum_ns`` is the coarsest stamp resolution of
    its events (None without events).
    """
    file: str
    format: str
    clock: str
    chosen_by: str | None = None
    sniff_score: float | None = None
    timezone: str | None = None
    timezone_source: str | None = None
    stamp_zones: tuple = ()                 # ((tz_source, events), ...) in name order
    preamble_lines: int = 0
    events: int = 0
    malformed: int = 0
    malformed_examples: tuple = ()          # (Malformed, ...)
    ambiguous: int = 0                      # stamps in a repeated or skipped DST hour
    quantum_ns: int | None = None
    notes: tuple = ()
    missing: bool = False

    @classmethod
    def missing_file(cls, file, fmt, clock, timezone=None) -> "LogFacts":
        """Facts of a declared log that is not there."""
        return cls(file=str(file), format=str(fmt), clock=str(clock),
                   timezone=None if timezone is None else str(timezone),
                   timezone_source=None if timezone is None else "declared", missing=True)

    def to_dict(self) -> dict:
        """The analysis document's ``logs`` entry (docs/analysis-json.md)."""
        return {
            "file": self.file, "format": self.format, "clock": self.clock,
            "chosen_by": self.chosen_by, "sniff_score": self.sniff_score,
            "timezone": self.timezone, "timezone_source": self.timezone_source,
            "stamp_zones": {k: v for k, v in self.stamp_zones},
            "preamble_lines": self.preamble_lines, "events": self.events,
            "malformed": self.malformed,
            "malformed_examples": [m.to_dict() for m in self.malformed_examples],
            "ambiguous": self.ambiguous, "quantum_ns": self.quantum_ns,
            "notes": list(self.notes), "missing": self.missing,
        }
