import pytest

from ksaudit import KsauditError, read_events

T0 = 1_795_587_593_463_073  # µs


def test_prefers_source_realtime_and_keeps_mono_boot(write, jline):
    text = (jline(T0 + 500, "hello", "app", mono_us=9_000_000,
                         _SOURCE_REALTIME_TIMESTAMP=str(T0))
            + jline(T0 + 800, "world", "app", mono_us=9_000_300))
    df = read_events(write("j.json", text))
    assert df["ts_ns"].tolist() == [T0 * 1000, (T0 + 800) * 1000]
    assert df["raw_ts"].tolist() == [str(T0), str(T0 + 800)]
    assert df["quantum_ns"].tolist() == [1000, 1000]
    assert (df["t_hi_ns"] - df["t_lo_ns"]).tolist() == [1000, 1000]
    assert df["mono_ns"].tolist() == [9_000_000_000, 9_000_300_000]
    assert set(df["boot_id"]) == {"b" * 32}
    assert df["tz_source"].tolist() == ["assumed-utc"] * 2
    assert df["segment"].tolist() == [-1, -1]
    assert (df["src_ts_ns"] == df["ts_ns"]).all()
    assert df.attrs["files"][0].format == "journald-json"
    assert df.attrs["files"][0].chosen_by == "sniffed"


def test_binary_message_array(write, jline):
    line = jline(T0, "x").replace('"MESSAGE": "x"', '"MESSAGE": [80, 77, 58, 32, 115, 117, '
                                        '115, 112, 101, 110, 100, 32, 101, 120, 105, 116, 255]')
    df = read_events(write("j.json", line))
    assert df["message"][0] == "PM: suspend exit\ufffd"
    assert df["kind"][0] == "wake"


def test_realtime_monotonic_jump_is_a_clock_step(write, jline):
    text = (jline(T0, "a", mono_us=1_000_000)
            + jline(T0 + 1_000, "b", mono_us=1_001_000)
            + jline(T0 + 5_001_000, "c", mono_us=1_002_000)   # +5 s jump
            + jline(T0 + 5_002_000, "d", mono_us=1_003_000))
    df = read_events(write("j.json", text))
    steps = df[df["kind"] == "clock_step"]
    assert len(steps) == 1
    assert steps["line"].tolist() == [3]
    assert "+4999.000 ms" in steps["message"].iloc[0]


def test_new_boot_is_not_a_step(write, jline):
    text = (jline(T0, "a", mono_us=50_000_000, boot="1" * 32)
            + jline(T0 + 1000, "b", mono_us=10, boot="2" * 32))
    df = read_events(write("j.json", text))
    assert "clock_step" not in set(df["kind"])


def test_malformed_lines_counted_with_line_numbers(write, jline):
    text = (jline(T0, "a") + "not json\n" + '{"MESSAGE": "no time"}\n'
            + jline(T0 + 1, "b") + '{"__REALTIME_TIMESTAMP": "12x"}\n')
    df = read_events(write("j.json", text))
    fact = df.attrs["files"][0]
    assert len(df) == 2 and fact.malformed == 3
    assert [e.line for e in fact.malformed_examples] == [2, 3, 5]


def test_nothing_parses_is_an_error(write, jline):
    path = write("j.json", '{"__REALTIME_TIMESTAMP": "x"}\n{"__REALTIME_TIMESTAMP": "y"}\n')
    with pytest.raises(KsauditError, match=r"no line parses as journald-json.*line 1"):
        read_events(path)


def test_declared_format_mismatch_names_what_it_looks_like(write, jline):
    path = write("p.log", '{"ts_ns": 1795587593463073150, "seq": 1, "dst": "203.0.113.80:33434",'
                          ' "proto": "udp", "result": "sent"}\n')
    with pytest.raises(KsauditError, match="declared format journald-json but it looks like ksaudit-probe"):
        read_events(path, format="journald-json")
