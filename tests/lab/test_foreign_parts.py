"""The foreign rig's parts that need no root: its wording, its syslog lines as ksaudit
reads them, the detached-daemon handle, and the CLI's wiring of --rig."""

import os
import re
import signal
import subprocess
import sys

import pytest

from ksaudit import read_events
from ksaudit.errors import KsauditError
from ksaudit.lab import daemon, foreign_log, runner

TS = 1796164228422023888            # 2026-12-01 22:30:28 UTC = 23:30:28 in Berlin
MONO = 5_721_370_081_000

# every message the lab's client and events hand to a system log's client()/systemd()
LAB_MESSAGES = [
    "tunnel up (connected; handshake with 198.51.100.2:51820 completed; dev wgksc0a1b2c)",
    "tunnel down (wireguard-go exited: killed by signal 9; dev wgksc0a1b2c)",
    "tunnel down (reconnecting; dev wgksc0a1b2c)",
    "firewall engaged (default deny outside wgksc0a1b2c, IPv4+IPv6, LAN allowed; tunnel up)",
    "firewall released (reconnecting)",
    "resumed from suspend; reconnecting",
    "Started ksaudit-lab-client-wg.service - WireGuard data plane (wgksc0a1b2c).",
    "ksaudit-lab-client-wg.service: Main process exited, code=killed, status=9/KILL",
]


def test_every_lab_message_has_the_foreign_agents_own_words():
    for msg in LAB_MESSAGES:
        words = foreign_log.agent_words(msg)
        assert "ksaudit" not in words and words != msg
    with pytest.raises(ValueError, match="no wording"):
        foreign_log.agent_words("tunnel sideways")


def write_log(tmp_path, style):
    path = tmp_path / ("syslog" if style == "rfc3164" else "journal.txt")
    log = foreign_log.ForeignLog(str(path), 4242, style=style, tz="Europe/Berlin")
    log.client(TS, MONO, LAB_MESSAGES[2])
    log.nm_device(TS + 10**6, MONO + 10**6, "wlan0", "activated", "unavailable", "carrier-changed")
    log.kernel(TS + 2 * 10**6, MONO + 2 * 10**6, "wlan0: Connection to AP 02:00:5e:00:53:01 lost")
    log.nm(TS + 3 * 10**6, MONO + 3 * 10**6, "dhcp4 (wlan0): state changed new lease, address=192.168.50.11")
    log.nm_device(TS + 4 * 10**6, MONO + 4 * 10**6, "wlan0", "ip-config", "activated", "none")
    log.client(TS + 5 * 10**6, MONO + 5 * 10**6, LAB_MESSAGES[0])
    log.close()
    return path


@pytest.mark.parametrize("style,quantum", [("rfc3164", 10**9), ("short-iso-precise", 1000)])
def test_foreign_syslog_reads_back_with_the_users_rules(tmp_path, style, quantum):
    path = write_log(tmp_path, style)
    text = path.read_text()
    first = text.splitlines()[0]
    if style == "rfc3164":
        assert first == ("Dec  1 23:30:28 rig-b-dut vpnagent[4242]: session: down on wgksc0a1b2c "
                         "(reconnecting)")
    else:
        assert first.startswith("2026-12-01T23:30:28.422023+01:00 rig-b-dut vpnagent[4242]: ")
    assert "kernel: [ 5721.372081] wlan0: Connection to AP" in text
    kw = {"year": 2026} if style == "rfc3164" else {}
    ev = read_events([str(path)], format="auto", timezone="Europe/Berlin",
                     rules=list(foreign_log.USER_RULES), **kw)
    assert list(ev["kind"].astype(str)) == ["tunnel_down", "link_down", "link_down", "network_change",
                                            "link_up", "tunnel_up"]
    assert int(ev["ts_ns"].iloc[0]) == (TS // quantum) * quantum
    assert int(ev["quantum_ns"].iloc[0]) == quantum


def test_a_detached_process_is_polled_waited_and_reaped_by_pid():
    assert daemon.set_subreaper(True)
    try:
        proc = subprocess.Popen([sys.executable, "-c", "import os, time\nif os.fork() == 0:\n"
                                 "    time.sleep(30)\n"], start_new_session=True)
        proc.wait(timeout=10)
        argv = [sys.executable, "-c", "import os, time\nif os.fork() == 0:\n    time.sleep(30)\n"]
        (pid,) = daemon.find_pid(argv, exclude=(proc.pid,))
        d = daemon.Detached(pid, argv)
        assert d.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            d.wait(timeout=0.05)
        os.kill(pid, signal.SIGTERM)
        assert d.wait(timeout=5) == -signal.SIGTERM
        assert daemon.find_pid(argv) == [] and daemon._state(pid) is None    # reaped, no zombie
    finally:
        daemon.set_subreaper(False)


def test_bad_rig_and_system_log_are_refused_before_anything_is_made(tmp_path):
    for kw, message in (({"rig": "other"}, "unknown rig 'other'"),
                        ({"system_log": "evtx"}, "--system-log must be one of")):
        with pytest.raises(KsauditError, match=re.escape(message)):
            runner._check(runner.RunOptions(event="reconnect", policy="strong",
                                            out=str(tmp_path / "b" / "s"), **kw))
    assert not (tmp_path / "b").exists()


def test_cli_passes_the_rig_and_its_log_format(monkeypatch, tmp_path):
    from ksaudit import cli
    seen = []

    def fake_run(opts):
        seen.append(opts)
        return runner.RunResult(opts.out, "PASS", {"policy": opts.policy, "event": opts.event,
                                                   "trial_count": 1, "trials": [{"leaked_probes": 0}]})

    monkeypatch.setattr(runner, "run", fake_run)
    out = str(tmp_path / "b" / "s")
    assert cli.main(["lab", "run", "--event", "wifi-yank", "--policy", "strong", "--rig", "foreign",
                     "--system-log", "short-iso-precise", "-o", out]) == 0
    assert (seen[0].rig, seen[0].system_log) == ("foreign", "short-iso-precise")
    assert cli.main(["lab", "run", "--event", "wifi-yank", "--policy", "strong", "-o", out]) == 0
    assert (seen[1].rig, seen[1].system_log) == ("lab", "rfc3164")
