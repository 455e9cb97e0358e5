"""Record: a kill-switch test on a real Linux host, written as a scenario directory.

`ksaudit record` (``record.cli``) captures with tcpdump, probes the tester's own sink
with the lab's generator, causes the event (a command, or the tester), gathers the
journal and named logs and writes what `ksaudit analyze` reads (docs/lab.md,
"Recording on a real host").
"""

from ksaudit.record.options import LogFile, RecordOptions
from ksaudit.record.recorder import RecordResult, record

__all__ = ["LogFile", "RecordOptions", "RecordResult", "record"]
