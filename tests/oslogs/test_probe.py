import json

import pytest

from ksaudit import KsauditError, read_events


def _line(ts, seq, result="sent", dst="203.0.113.80:33434"):
    return json.dumps({"ts_ns": ts, "seq": seq, "dst": dst, "proto": "udp", "result": result}) + "\n"


def test_probe_rows(write):
    ts = 1_795_587_593_463_073_150
    text = _line(ts, 411) + _line(ts + 10**8, 412, "EPERM") + "\n" + '{"seq": 3}\n'
    df = read_events(write("probe.jsonl", text))
    assert df["kind"].tolist() == ["probe", "probe"]
    assert df["ts_ns"].tolist() == [ts, ts + 10**8]
    assert df["probe_seq"].tolist() == [411, 412]
    assert df["probe_result"].tolist() == ["sent", "EPERM"]
    assert df["probe_dst"].tolist() == ["203.0.113.80:33434"] * 2
    assert df["quantum_ns"].tolist() == [1, 1]
    assert df["line"].tolist() == [1, 2]
    fact = df.attrs["files"][0]
    assert fact.format == "ksaudit-probe" and fact.malformed == 1
    assert fact.malformed_examples[0].line == 4


def test_probe_rejects_float_times(write):
    path = write("probe.jsonl", '{"ts_ns": 1.5e18, "seq": 1, "result": "sent"}\n')
    with pytest.raises(KsauditError, match="no line parses as ksaudit-probe"):
        read_events(path, format="ksaudit-probe")


def test_probe_seq_beyond_int64_is_malformed(write):
    text = ('{"ts_ns": 1795586466000000000, "seq": 99999999999999999999, "result": "sent"}\n'
            '{"ts_ns": 1795586466000000001, "seq": 2, "result": "sent"}\n')
    df = read_events(write("probe.jsonl", text))
    fact = df.attrs["files"][0]
    assert df["probe_seq"].tolist() == [2] and fact.malformed == 1
    assert fact.malformed_examples[0].line == 1
