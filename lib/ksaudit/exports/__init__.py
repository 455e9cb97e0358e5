"""Exports: the analysis in other tools' formats.

JUnit XML for CI gates (`junit`), pcapng copies of the captures with leak comments for
Wireshark (`annotate`), a timeline for Timesketch and plaso users (`timeline`).  Each
writes its file atomically through `output`.
"""

from ksaudit.exports.annotate import annotate_capture, annotate_scenario
from ksaudit.exports.junit import junit_xml
from ksaudit.exports.timeline import timeline_rows, write_timeline

__all__ = ["annotate_capture", "annotate_scenario", "junit_xml", "timeline_rows", "write_timeline"]
