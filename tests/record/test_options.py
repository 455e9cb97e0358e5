"""Every bad `ksaudit record` option is one line on stderr and exit 2, before anything
is started, without root (and the host checks: not root, no tcpdump)."""

import os

import pytest

from ksaudit.cli import main
from ksaudit.record.options import parse_log

GOOD = ["--build", "2026.12-rec", "--probe-target", "203.0.113.80:33434",
        "--vpn-endpoint", "198.51.100.2:51820/udp", "--tunnel-interface", "wg0",
        "--event-cmd", "true"]


def one_line_error(capsys, argv):
    try:
        rc = main(["record", *argv])
    except SystemExit as exc:          # argparse's own errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("ksaudit: error: ") and err.count("\n") == 1, (rc, err)
    return err


@pytest.mark.parametrize("argv,words", [
    (["--probe-target", "example.com:33434"], "IP address"),
    (["--probe-target", "203.0.113.80"], "IP address"),
    (["--probe-target", "2001:db8::80:33434"], "IP address"),
    (["--probe-target", "203.0.113.80:0"], "IP address"),
    (["--probe-target", "203.0.113.80:70000"], "IP address"),
    (["--vpn-endpoint", "vpn.example:51820"], "cannot read endpoint"),
    (["--manual"], "not allowed with argument --event-cmd"),
    (["--discover-tunnel"], "not both and not neither"),
    (["--trials", "0"], "--trials must be 1..20"),
    (["--trials", "21"], "--trials must be 1..20"),
    (["--steady-s", "0.1"], "--steady-s must be 0.5..600"),
    (["--steady-s", "nan"], "--steady-s must be 0.5..600"),
    (["--duration", "0"], "--duration must be 1..3600"),
    (["--duration", "5", "--steady-s", "2", "--trials", "2"], "leaves no time for the events"),
    (["--probe-interval-ms", "0"], "--probe-interval-ms must be 1..1000"),
    (["--buffer-kib", "10"], "--buffer-kib must be"),
    (["--build", "a/b"], "without '/'"),
    (["--event-cmd", "  "], "--event-cmd is empty"),
    (["--tunnel-interface", "a-name-longer-than-15"], "is not an interface name"),
    (["--log", "/nonexistent/client.log"], "No such file or directory"),
    (["--log-timezone", "Mars/Olympus"], "--log-timezone"),
])
def test_bad_option_is_one_line(capsys, tmp_path, argv, words):
    args = GOOD + ["-o", str(tmp_path / "out")] + argv
    assert words in one_line_error(capsys, args)
    assert not os.path.exists(tmp_path / "out")


def test_there_is_no_default_probe_target(capsys, tmp_path):
    argv = ["-o", str(tmp_path / "out"), "--build", "b", "--vpn-endpoint", "198.51.100.2:51820/udp",
            "--tunnel-interface", "wg0", "--manual"]
    assert "required: --probe-target" in one_line_error(capsys, argv)


def test_log_file_format_and_kind(capsys, tmp_path):
    log = tmp_path / "client.log"
    log.write_text("x\n")
    base = GOOD + ["-o", str(tmp_path / "out")]
    assert "unknown format 'nosuch'" in one_line_error(capsys, base + ["--log", f"{log}:nosuch"])
    assert "not a readable regular file" in one_line_error(capsys, base + ["--log", str(tmp_path)])


def test_output_directory_is_never_overwritten(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "scenario.yaml").write_text("build: old\n")
    assert "exists and is not empty" in one_line_error(capsys, GOOD + ["-o", str(out)])
    assert (out / "scenario.yaml").read_text() == "build: old\n"


def test_not_root_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    err = one_line_error(capsys, GOOD + ["-o", str(tmp_path / "out")])
    assert "record: needs root" in err
    assert not os.path.exists(tmp_path / "out")


def test_missing_tcpdump_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("PATH", str(tmp_path))          # no tcpdump there
    err = one_line_error(capsys, GOOD + ["-o", str(tmp_path / "out")])
    assert "'tcpdump' not found on PATH" in err


def test_help_documents_the_event_choice(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["record", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--probe-target", "--event-cmd", "--manual", "--discover-tunnel", "--log",
                "--journal-unit", "--duration", "--trials"):
        assert opt in text


def test_a_log_path_with_a_colon_is_a_path(tmp_path):
    log = tmp_path / "client:2.log"
    log.write_text("x\n")
    assert parse_log(str(log), {"openvpn"}).format == "auto"
    assert parse_log(f"{log}:openvpn", {"openvpn"}).format == "openvpn"
