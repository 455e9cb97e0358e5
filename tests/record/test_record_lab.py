"""`ksaudit record` inside a lab namespace standing in for the host, judged by analyze
against what the lab's sink received."""

import glob
import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest
import yaml

import ksaudit
from ksaudit.lab import firewall, topology as topo
from ksaudit.lab.procs import python_env, wait_for
from ksaudit.record import collect

from labhost import alive, descendants, finish

pytestmark = pytest.mark.lab


def outside_seqs(host):
    """Probe seqs the sink got from the device's own LAN address: outside the tunnel."""
    return {r["seq"] for r in host.sink_records() if r["src"] == topo.DEV_ADDR and r["seq"] is not None}


def leaked_seqs(analysis):
    sent = analysis.leaks[analysis.leaks["rule"].astype(str) == "leak"]
    return set(sent["probe_seq"].astype(int)) - {-1}


def test_event_cmd_without_kill_switch_fails_with_the_probes_the_sink_got(lab_host, tmp_path):
    out = tmp_path / "2026.12-rec" / "routes-down"
    event = f"{lab_host.routes_cmd('del')} && sleep 0.5 && {lab_host.routes_cmd('add')}"
    client_log = lab_host.work / "wg-client.log"          # the client's own log, named by the tester
    rc, stdout, stderr = finish(lab_host.start_record(
        out, "--event-cmd", event, "--trials", "2", "--log", f"{client_log}:wireguard-go",
        "--log-timezone", "UTC"))                            # the lab runs wireguard-go with TZ=UTC
    assert rc == 0, stderr
    assert not glob.glob(f"{out}.partial-*")
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert sc["incomplete"] is False and "incomplete_reason" not in sc
    assert sc["device"]["tunnel_interfaces"] == [lab_host.tunnel]
    assert sc["device"]["physical_interfaces"] == ["wlan0"]
    assert topo.DEV_ADDR in sc["device"]["addresses"]
    assert set(sc["device"]["ifindex"].values()) >= {"lo", "wlan0", lab_host.tunnel}
    assert sc["captures"][0]["dropped"] == 0
    copied = out / "logs" / "wg-client.log"                # copied, never moved
    assert {"file": "logs/wg-client.log", "format": "wireguard-go", "clock": "device",
            "timezone": "UTC"} in sc["logs"]
    assert client_log.exists() and client_log.read_bytes().startswith(copied.read_bytes())
    if collect.journald_absent():                          # as in this container
        assert any(n.startswith("no journal collected: journald is not running") for n in sc["notes"])
    else:
        assert "logs/journal.json" in [log["file"] for log in sc["logs"]]
    want = outside_seqs(lab_host)
    assert want, "the routes went down without a kill switch: probes must have leaked"
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "FAIL", [(r.code, r.message) for r in a.verdict.reasons]
    assert leaked_seqs(a) == want
    assert len([e for e in a.episodes if e.leaked_frames]) == 2          # one per trial
    assert "logs/wg-client.log" in set(a.events["file"].astype(str))
    # the recorder's own record of the event command, read back as a log
    ev = a.events[a.events["file"].astype(str).str.endswith("record.json")]
    for trial in (1, 2):
        assert ev["message"].str.contains(f"trial {trial}: event command started").any()
        assert ev["message"].str.contains(rf"trial {trial}: event command ended \(exit status 0\)").any()
    cli = subprocess.run(["ksaudit", "analyze", str(out)], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1 and cli.stdout.startswith("routes-down: FAIL")


def _partial_log(out):
    """The recorder's own log in its half-written directory, '' until it exists."""
    for path in glob.glob(f"{out}.partial-*/logs/record.json"):
        with open(path) as fh:
            return fh.read()
    return ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_event_stops_everything_and_writes_an_incomplete_directory(lab_host, tmp_path, sig):
    out = tmp_path / "2026.12-rec" / "interrupted"
    proc = lab_host.start_record(out, "--event-cmd", "sleep 20")
    wait_for(lambda: "sleep" in commands(proc.pid) or proc.poll() is not None, 20.0,
             "the event command to start")
    assert "event command started" in _partial_log(out)
    started = descendants(proc.pid)
    names = commands(proc.pid)
    assert {"tcpdump", "sh", "sleep"} <= set(names) and len(started) >= 4, names   # + the probes
    os.kill(proc.pid, sig)
    rc, stdout, stderr = finish(proc)
    assert rc == 130, stderr
    assert [p for p in started if alive(p)] == []
    assert not glob.glob(f"{out}.partial-*")
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert sc["incomplete"] is True
    assert sc["incomplete_reason"] == f"interrupted by {sig.name} during trial 1's event"
    assert "INCOMPLETE: interrupted" in stdout
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "INCONCLUSIVE"
    assert "incomplete_evidence" in {r.code for r in a.verdict.reasons}
    ev = a.events[a.events["file"].astype(str).str.endswith("record.json")]
    assert ev["message"].str.contains("event command stopped: the run was cut short").any()
    assert sc["captures"][0]["dropped"] == 0               # tcpdump was stopped, not killed
    cli = subprocess.run(["ksaudit", "analyze", str(out)], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 3 and "incomplete_evidence" in cli.stdout


def commands(pid):
    """The command names of ``pid``'s live descendants."""
    names = []
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/comm") as fh:
                names.append(fh.read().strip())
        except OSError:
            pass
    return names


def _read_until(fd, marker, timeout_s):
    """Read ``fd`` (bounded) until ``marker`` has appeared; returns what was read."""
    seen, end = b"", time.monotonic() + timeout_s
    while marker not in seen:
        left = end - time.monotonic()
        assert left > 0, f"no {marker!r} in {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"stream closed before {marker!r}: {seen!r}"
            seen += chunk
    return seen


def test_manual_event_ends_at_enter_on_stdin(lab_host, tmp_path):
    out = tmp_path / "2026.12-rec" / "manual"
    proc = lab_host.start_record(out, "--manual", stdin=subprocess.PIPE, tunnel=["--discover-tunnel"])
    _read_until(proc.stderr.fileno(), b"cause the event now, press Enter when the tunnel is back", 20)
    lab_host.routes("del")                       # the tester takes the tunnel down ...
    time.sleep(0.4)
    lab_host.routes("add")                       # ... it comes back, and they press Enter
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    rc, stdout, stderr = finish(proc)
    assert rc == 0, stderr
    want = outside_seqs(lab_host)
    assert want
    with open(out / "scenario.yaml") as fh:
        assert yaml.safe_load(fh)["device"]["tunnel_interfaces"] == [lab_host.tunnel]   # discovered
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "FAIL"
    assert leaked_seqs(a) == want
    with open(out / "record-run.json") as fh:
        (trial,) = json.load(fh)["trials"]
    sent = a.leaks[a.leaks["rule"].astype(str) == "leak"]
    assert trial["started_ns"] < sent["ts_ns"].min() <= sent["ts_ns"].max() < trial["ended_ns"]


def test_manual_stdin_closed_before_enter_is_an_incomplete_run(lab_host, tmp_path):
    out = tmp_path / "2026.12-rec" / "no-enter"
    rc, stdout, stderr = finish(lab_host.start_record(out, "--manual"))   # stdin: /dev/null
    assert rc == 3, stderr
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert sc["incomplete"] is True and sc["incomplete_reason"] == "stdin closed before Enter in trial 1"
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "INCONCLUSIVE"
    assert "incomplete_evidence" in {r.code for r in a.verdict.reasons}


@pytest.mark.parametrize("marks,status", [(True, 0), (False, 0), (True, 1)])
def test_kill_switch_holds_passes_only_when_the_event_is_declared_as_the_tunnel_going(
        lab_host, tmp_path, marks, status):
    """A strong kill switch (the lab's nftables default deny) and the routes taken down: no
    leak.  With --event-marks-tunnel the recorder's lines open and close the episode, so it
    passes; without, nothing in the logs says the tunnel went down (no journal here), and a
    packet-only episode cannot pass; nor can one whose event command failed."""
    firewall.engage(lab_host.names.dev, "strong", lab_host.tunnel, False)
    out = tmp_path / "2026.12-rec" / "strong"
    event = (f"{lab_host.routes_cmd('del')} && sleep 0.5 && {lab_host.routes_cmd('add')}" if not status
             else "sleep 0.3; exit 1")                # a command that failed to cause anything
    extra = ["--event-marks-tunnel"] if marks else []
    rc, stdout, stderr = finish(lab_host.start_record(out, "--event-cmd", event, *extra))
    assert rc == 0, stderr
    assert outside_seqs(lab_host) == set()
    assert ("EPERM" in stdout) != bool(status)    # the note: the kill switch refused the probes
    a = ksaudit.analyze(out, deep=False)
    codes = {r.code for r in a.verdict.reasons}
    assert len(a.leaks) == 0
    if marks and not status:
        assert a.verdict.status == "PASS", [(r.code, r.message) for r in a.verdict.reasons]
        (ep,) = a.episodes
        with open(out / "record-run.json") as fh:
            (trial,) = json.load(fh)["trials"]
        assert ep.start_ns <= trial["ended_ns"] and ep.end_ns >= trial["started_ns"]
    elif marks:
        assert "trial 1: the event command exited with status 1" in stdout
        assert a.verdict.status == "INCONCLUSIVE" and "capture_gap" in codes, codes
    else:
        assert a.verdict.status == "INCONCLUSIVE" and "no_tunnel_down" in codes


def test_a_declared_event_that_left_the_tunnel_up_cannot_pass(lab_host, tmp_path):
    """--event-marks-tunnel with an event that never touched the tunnel: the probes kept
    leaving encapsulated to the endpoint, so the packets disprove the declared tunnel-down
    and the episode tested nothing (no_tunnel_down), even behind a strong kill switch."""
    firewall.engage(lab_host.names.dev, "strong", lab_host.tunnel, False)
    out = tmp_path / "2026.12-rec" / "no-op"
    rc, stdout, stderr = finish(lab_host.start_record(out, "--event-cmd", "sleep 0.8",
                                                      "--event-marks-tunnel"))
    assert rc == 0, stderr
    a = ksaudit.analyze(out, deep=False)
    assert len(a.leaks) == 0
    assert a.verdict.status == "INCONCLUSIVE", [(r.code, r.message) for r in a.verdict.reasons]
    (ep,) = a.episodes
    assert "kept sending tunnel data" in " ".join(r.message for r in ep.reasons
                                                   if r.code == "no_tunnel_down")


def test_an_unreachable_probe_target_is_noted_not_an_error(lab_host, tmp_path):
    topo.ipn(lab_host.names.dev, "route", "add", "unreachable", "192.0.2.0/24")
    out = tmp_path / "2026.12-rec" / "unreachable"
    rc, stdout, stderr = finish(lab_host.start_record(
        out, "--event-cmd", "true", "--probe-target", "192.0.2.1:9", "--scenario", "reconnect",
        "--description", "two targets", "--vpn-process", "wireguard-go", "--allow-lan"))
    assert rc == 0, stderr
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert (sc["scenario"], sc["description"], sc["vpn"]["processes"], sc["policy"]["allow_lan"]) == \
        ("reconnect", "two targets", ["wireguard-go"], True)
    notes = sc["notes"]
    assert any(n.startswith("probe target 192.0.2.1:9: no route at the start of the run") for n in notes)
    (refused,) = [n for n in notes if n.startswith("probe target 192.0.2.1:9: ") and "attempts" in n]
    assert "EHOSTUNREACH" in refused and refused.endswith("is the target reachable?")
    assert not [n for n in notes if n.startswith(f"probe target {lab_host.target}")]
    assert "note: probe target 192.0.2.1:9" in stdout
    assert outside_seqs(lab_host) == set()


def test_interrupt_before_the_capture_runs_still_writes_what_there_is(netns, tmp_path):
    """Ctrl-C the moment the half-written directory appears (tcpdump still starting): the
    directory is written, marked incomplete, and analyze cannot pass it."""
    topo.ipn(netns, "tuntap", "add", "mode", "tun", "name", "tun0")
    out = tmp_path / "b" / "early"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "ksaudit.cli", "record", "-o", str(out),
         "--build", "b", "--probe-target", "127.0.0.1:9", "--vpn-endpoint", "198.51.100.2:51820/udp",
         "--discover-tunnel", "--event-cmd", "true"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=python_env(), start_new_session=True)
    wait_for(lambda: glob.glob(f"{out}.partial-*") or proc.poll() is not None, 30.0,
             "the recorder's directory")
    os.kill(proc.pid, signal.SIGINT)
    rc, stdout, stderr = finish(proc)
    assert rc == 130, stderr
    assert topo.ns_pids(netns) == []
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert sc["incomplete"] is True and sc["incomplete_reason"].startswith("interrupted by SIGINT")
    assert sc["device"]["tunnel_interfaces"] == ["tun0"]
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "INCONCLUSIVE"
    assert "incomplete_evidence" in {r.code for r in a.verdict.reasons}


def test_sigkilled_recorder_takes_its_capture_and_probes_with_it(lab_host, tmp_path):
    """SIGKILL leaves no chance to clean up; tcpdump and the probe generator still stop
    (PR_SET_PDEATHSIG), tcpdump flushing its file; the half-written directory stays."""
    out = tmp_path / "2026.12-rec" / "killed"
    proc = lab_host.start_record(out, "--event-cmd", "sleep 20")
    wait_for(lambda: "sleep" in commands(proc.pid) or proc.poll() is not None, 20.0,
             "the event command to start")
    started = {pid: name for pid, name in zip(descendants(proc.pid), commands(proc.pid))}
    os.kill(proc.pid, signal.SIGKILL)
    finish(proc)
    ours = [pid for pid, name in started.items() if name in ("tcpdump", "python3")]
    assert len(ours) == 2, started
    try:
        wait_for(lambda: not [p for p in ours if alive(p)], 5.0, "tcpdump and the probes to stop")
    finally:
        for pid in [p for p in started if alive(p)]:      # the event's orphaned sleep
            os.kill(pid, signal.SIGKILL)
    (partial,) = glob.glob(f"{out}.partial-*")
    assert os.path.getsize(os.path.join(partial, "device.pcap")) > 24       # more than a header
    assert not out.exists()


def test_duration_stops_an_event_command_that_never_returns(netns, tmp_path):
    """--duration bounds the run: a hung event command is stopped with its whole process
    group (the shell and its sleep), and the directory is written, marked incomplete."""
    topo.ipn(netns, "tuntap", "add", "mode", "tun", "name", "tun0")
    out = tmp_path / "b" / "hung"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "ksaudit.cli", "record", "-o", str(out),
         "--build", "b", "--probe-target", "127.0.0.1:9", "--vpn-endpoint", "198.51.100.2:51820/udp",
         "--tunnel-interface", "tun0", "--event-cmd", "sleep 60; true", "--steady-s", "0.5",
         "--duration", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=python_env(), start_new_session=True)
    rc, stdout, stderr = finish(proc, timeout_s=30)
    assert rc == 3, stderr
    assert topo.ns_pids(netns) == []                      # no sleep left behind
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert sc["incomplete_reason"] == ("the event command of trial 1 still ran when the run reached "
                                       "--duration (3 s); it was stopped")
    with open(out / "record-run.json") as fh:
        assert json.load(fh)["trials"] == []
