"""Ctrl-C / SIGTERM during a run, and `ksaudit lab cleanup`: nothing is left behind."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from ksaudit.lab import topology

from .conftest import assert_nothing_left, processes_mentioning

pytestmark = pytest.mark.lab


def _new_run_id(out, proc, timeout_s=20.0):
    """The run id of the lab run that ``proc`` started, once its wireguard-go is up.  Its
    ``<out>.partial-<id>`` directory names it: a new socket may be a concurrent run's
    (another test on a shared machine), which `lab cleanup --run-id` must not remove."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and proc.poll() is None:
        ids = [p.name.rsplit("-", 1)[1] for p in out.parent.glob(out.name + ".partial-*")]
        if ids and len(topology.leftovers(ids[0])["sockets"]) == 2:     # client and server
            return ids[0]
        time.sleep(0.02)
    raise AssertionError(f"lab run did not start (exit {proc.poll()}): {proc.stderr.read()}")


SIGNALS = [  # (signal, sent to the whole process group as a terminal does, exit code)
    (signal.SIGTERM, False, 130),         # a service manager / `kill PID`
    (signal.SIGINT, True, 130),           # Ctrl-C: the terminal signals the foreground group
    (signal.SIGHUP, True, 130),           # the terminal closed
]


@pytest.mark.parametrize("sig,group,code", SIGNALS, ids=[s.name for s, _, _ in SIGNALS])
def test_signal_mid_run_cleans_up(lab, tmp_path, sig, group, code):
    out = tmp_path / "b" / "s"
    proc = subprocess.Popen([sys.executable, "-m", "ksaudit.cli", "lab", "run", "--event", "sleep-wake",
                             "--policy", "strong", "--down-ms", "3000", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        run_id = _new_run_id(out, proc)
        time.sleep(0.8)                     # well inside the run: captures and probes going
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert_nothing_left(run_id)
    assert not out.exists() and list((tmp_path / "b").iterdir()) == []


def test_cleanup_after_the_harness_is_killed(lab, tmp_path):
    """SIGKILL leaves no chance for `finally`: `ksaudit lab cleanup` removes the rest."""
    out = tmp_path / "b" / "s"
    proc = subprocess.Popen([sys.executable, "-m", "ksaudit.cli", "lab", "run", "--event", "reconnect",
                             "--policy", "strong", "--reconnect-gap-ms", "3000", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = _new_run_id(out, proc)
        time.sleep(0.8)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert topology.leftovers(run_id)["namespaces"]         # really left behind
    done = subprocess.run([sys.executable, "-m", "ksaudit.cli", "lab", "cleanup", "--run-id", run_id],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "removed: partial_output" in done.stdout
    assert_nothing_left(run_id)
    assert list((tmp_path / "b").iterdir()) == []           # the half-written directory too


def test_cleanup_removes_leftovers_by_prefix(lab):
    ns = topology.PREFIX + "f00d01-dev"
    sock = os.path.join(topology.WG_SOCKET_DIR, topology.WG_PREFIX + "cf00d01.sock")
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    sleeper = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "3600"],
                               start_new_session=True)
    os.makedirs(topology.WG_SOCKET_DIR, exist_ok=True)
    open(sock, "w").close()
    try:
        proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "lab", "cleanup", "--run-id", "f00d01"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert f"removed: namespace {ns}" in proc.stdout
        sleeper.wait(timeout=10)            # killed by PID through `ip netns pids`
        assert not os.path.exists(f"/var/run/netns/{ns}") and not os.path.exists(sock)
        again = subprocess.run([sys.executable, "-m", "ksaudit.cli", "lab", "cleanup", "--dry-run", "--run-id", "f00d01"],
                               capture_output=True, text=True, timeout=60)
        assert "f00d01" not in again.stdout
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        if os.path.exists(sock):
            os.unlink(sock)
    assert processes_mentioning("f00d01") == []


def test_cli_run_writes_the_directory_and_says_the_expected_verdict(lab, tmp_path):
    out = tmp_path / "2026.1-x" / "none-network-change"
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "lab", "run", "--event", "network-change",
                           "--policy", "none", "--ipv6", "--trials", "2", "--down-ms", "400",
                           "--settle-ms", "150", "--steady-ms", "200", "--probe-interval-ms", "25",
                           "--build", "2026.1-rc 2", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "expected verdict FAIL" in proc.stdout
    with open(out / "lab-truth.json") as fh:
        doc = json.load(fh)
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert sc["build"] == doc["build"] == "2026.1-rc 2" and sc["scenario"] == "network-change"
    # the generator kept the asked interval (per destination, on a fixed grid)
    with open(out / "logs" / "probes.jsonl") as fh:
        sent = [r["ts_ns"] for r in map(json.loads, fh) if r["dst"].startswith("203.0.113.80")]
    gaps = sorted(b - a for a, b in zip(sent, sent[1:]))
    assert doc["probe_interval_ms"] == 25 and 20e6 <= gaps[len(gaps) // 2] <= 30e6
    assert doc["trial_count"] == 2 and all(t["leaked"] for t in doc["trials"])
    # the device moved to the second LAN and back: both LANs' addresses are declared
    assert set(sc["device"]["addresses"]) == {"192.168.50.10", "192.168.60.10", "fd00:50::10",
                                              "fd00:60::10"}
    assert sc["device"]["physical_interfaces"] == ["wlan0", "eth0"]
    assert [t["leak_sources"] for t in doc["trials"]] == [["192.168.60.10", "fd00:60::10"],
                                                         ["192.168.50.10", "fd00:50::10"]]
    assert_nothing_left(doc["run_id"])
