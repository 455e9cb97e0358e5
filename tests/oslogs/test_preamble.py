"""A preamble before the first log line: wireguard-go's kernel-support banner.

The banner is the one wireguard-go (main.go ``warning()``, 0.0.20201118 and later)
prints to stderr on Linux unless it runs as its own daemonised child; a harness
that starts it with ``LOG_LEVEL=verbose wireguard-go wg0 >wg.log 2>&1`` gets the
banner first, then the log lines of device/logger.go.
"""

import pytest

from ksaudit import KsauditError, read_events
from ksaudit.cli import main
from ksaudit.oslogs import registry

BANNER = """\
┌──────────────────────────────────────────────────────┐
│                                                      │
│   Running wireguard-go is not required because this  │
│   kernel has first class support for WireGuard. For  │
│   information on installing the kernel module,       │
│   please visit:                                      │
│         https://www.wireguard.com/install/           │
│                                                      │
└──────────────────────────────────────────────────────┘
"""
LINES = """\
DEBUG: (wg0) 2026/12/01 10:00:00 Starting wireguard-go version 0.0.20230223
DEBUG: (wg0) 2026/12/01 10:00:00 Device started
DEBUG: (wg0) 2026/12/01 10:00:00 UAPI listener started
DEBUG: (wg0) 2026/12/01 10:00:01 Interface state was Down, requested Up, now Up
DEBUG: (wg0) 2026/12/01 10:00:01 peer(AbCd…wXyZ) - Sending handshake initiation
DEBUG: (wg0) 2026/12/01 10:00:01 peer(AbCd…wXyZ) - Received handshake response
DEBUG: (wg0) 2026/12/01 10:00:07 Interface state was Up, requested Down, now Down
DEBUG: (wg0) 2026/12/01 10:00:09 Device closing
DEBUG: (wg0) 2026/12/01 10:00:09 Shutting down
"""
T0 = 1_796_119_200 * 10**9        # 2026-12-01 10:00:00 UTC
PREAMBLE_NOTE = "skipped a 9-line preamble (lines 1-9) before the first wireguard-go line"


@pytest.mark.parametrize("fmt, chosen_by", [("auto", "sniffed"), ("wireguard-go", "declared")])
def test_banner_is_a_preamble_not_malformed(write, fmt, chosen_by):
    df = read_events(write("wg.log", BANNER + LINES), format=fmt, timezone="UTC")
    fact = df.attrs["files"][0]
    assert (fact.format, fact.chosen_by, fact.sniff_score) == ("wireguard-go", chosen_by, 0.9)
    assert (fact.preamble_lines, fact.events, fact.malformed) == (9, 9, 0)
    assert fact.malformed_examples == ()
    assert fact.notes[0].startswith(PREAMBLE_NOTE)
    assert df["line"].tolist() == list(range(10, 19))
    assert df["ts_ns"].iloc[0] == T0
    assert df.loc[df["kind"] == "tunnel_down", "line"].tolist() == [16, 17]


def test_sniffing_skips_the_banner_and_says_how_far():
    # the fewest lines to skip until half the next ones fit; parsing finds the whole preamble
    name, score, skipped = registry.sniff_format((BANNER + LINES).encode())
    assert (name, score) == ("wireguard-go", 0.9) and 0 < skipped <= 9
    assert registry.sniff_format(LINES.encode()) == ("wireguard-go", 0.9, 0)
    wg = registry.get_format("wireguard-go")
    assert registry.score_of(wg, (BANNER + LINES).encode()) == (0.9, skipped)
    assert registry.score_of(wg, BANNER.encode()) == (0.0, 0)


def test_banner_alone_is_text_not_binary():
    head = BANNER.encode()
    assert not registry.is_binary(head)
    assert registry.is_binary(b"\x00\x01\x02\x03" * 100)
    with pytest.raises(KsauditError) as err:
        registry.sniff_format(head, "wg.log")
    assert "binary" not in str(err.value)
    assert "first line: '┌──" in str(err.value)


def test_binary_file_is_still_called_binary(write):
    with pytest.raises(KsauditError, match="binary data starting with bytes d4 c3 b2 a1"):
        read_events(write("capture.pcap", b"\xd4\xc3\xb2\xa1" + b"\x00" * 200))


def test_garbage_after_the_first_line_is_malformed_with_examples(write):
    head, tail = LINES.splitlines(keepends=True)[:2], LINES.splitlines(keepends=True)[2:]
    text = BANNER + "".join(head) + "panic: runtime error\ngoroutine 1 [running]:\n" + "".join(tail)
    df = read_events(write("wg.log", text), timezone="UTC")
    fact = df.attrs["files"][0]
    assert (fact.preamble_lines, fact.malformed, fact.events) == (9, 2, 9)
    assert [(m.line, m.text) for m in fact.malformed_examples] == [
        (12, "panic: runtime error"), (13, "goroutine 1 [running]:")]


def test_a_format_shaped_bad_line_ends_the_preamble(write):
    text = BANNER + "DEBUG: (wg0) 2026/02/30 10:00:00 Device started\n" + LINES
    fact = read_events(write("wg.log", text), format="wireguard-go", timezone="UTC").attrs["files"][0]
    assert (fact.preamble_lines, fact.malformed) == (9, 1)
    assert fact.malformed_examples[0].line == 10
    assert fact.malformed_examples[0].reason == "impossible date"


def test_banner_of_a_restart_inside_the_log_is_noted_not_malformed(write):
    df = read_events(write("wg.log", BANNER + LINES + BANNER + LINES), timezone="UTC")
    fact = df.attrs["files"][0]
    assert (fact.preamble_lines, fact.events, fact.malformed) == (9, 18, 0)
    assert any("9 line(s) of wireguard-go's kernel-support banner" in n and "line 19" in n
               for n in fact.notes)


def test_a_preamble_longer_than_the_limit_is_not_guessed_past(write):
    text = "".join(f"harness line {i}\n" for i in range(60)) + LINES
    with pytest.raises(KsauditError, match="cannot tell the log format"):
        read_events(write("wg.log", text), timezone="UTC")
    df = read_events(write("wg.log", text), format="wireguard-go", timezone="UTC")
    fact = df.attrs["files"][0]
    assert (fact.preamble_lines, fact.malformed) == (0, 60)


def test_events_cli_reads_the_banner_log(write, capsys):
    path = write("wg.log", BANNER + LINES)
    assert main(["events", str(path), "--timezone", "UTC"]) == 0
    captured = capsys.readouterr()
    assert ("format wireguard-go (sniffed, score 0.9), 9 events, 0 malformed, "
            "9-line preamble skipped") in captured.err
    assert PREAMBLE_NOTE in captured.err
    out = captured.out.splitlines()
    assert out[0].startswith(f"{T0}\t2026-12-01T10:00:00.000000000Z\tprocess_start [wg0]\t")
    assert main(["events", str(path), "--timezone", "UTC", "--format", "wireguard-go"]) == 0
    assert "(declared), 9 events, 0 malformed" in capsys.readouterr().err
