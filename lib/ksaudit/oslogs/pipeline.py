"""One file's parser output -> its event table: stamps, recognition, dtypes."""

import pyarrow as pa

from ksaudit.oslogs import base, rules as _rules
from ksaudit.oslogs.embedded import stamp_frame


def build_table(items, ctx, fmt_name, rule_table):
    """Parser output (rows/Batches) -> event table (base.ALL_COLUMNS) for one file.

    Parameters
    ----------
    items : iterable
        What ``parse(path, ctx)`` yields.
    ctx : base.ParseContext
    fmt_name : str
    rule_table : list of rule mappings (rules.load_rules)

    Returns
    -------
    pandas.DataFrame
    """
    cols = base.sort_by_line(base.collect(items, ctx))
    n = len(cols["ts_ns"])
    messages = cols.pop("_message_arrow", None)
    if messages is None and n and "message" in cols:
        messages = pa.array(cols["message"], pa.string())
    stamp_frame(cols, messages)
    _rules.recognise(cols, fmt_name, rule_table, messages)
    return base.to_frame(cols, ctx, fmt_name)
