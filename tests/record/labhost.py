"""A lab namespace standing in for a real host: `ksaudit record` runs inside the device
namespace with a real WireGuard tunnel (wireguard-go), against the lab's sink.

Only the lab's own namespaces and addresses are used; every process is started and
stopped by PID, the namespaces are deleted after each test.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ksaudit.errors import KsauditError
from ksaudit.lab import topology as topo, wireguard as wg
from ksaudit.lab.procs import Procs, python_env, wait_for

RECORD_TIMEOUT_S = 60


def lab_unavailable():
    """None when namespaces, wireguard-go and tcpdump can run here, else why not."""
    try:
        topo.check_can_run()
    except KsauditError as exc:
        return f"record tests need the lab: {exc}"
    return None


@dataclass
class LabHost:
    names: topo.Names
    procs: Procs
    work: Path

    @property
    def tunnel(self):
        return self.names.wg_client

    @property
    def target(self):
        return f"{topo.SINK_ADDR}:{topo.SINK_PORT}"

    @property
    def endpoint(self):
        return f"{topo.UP_VPN}:{topo.WG_PORT}/udp"

    def routes_cmd(self, verb):
        """The shell text that adds or deletes the tunnel's routes (what a client does)."""
        return " && ".join(f"ip route {verb} {r} dev {self.tunnel}" for r in topo.TUNNEL_ROUTES4)

    def routes(self, verb):
        topo.sh(["sh", "-c", self.routes_cmd(verb)], ns=self.names.dev)

    def start_record(self, out, *extra, stdin=None, tunnel=None):
        """`ksaudit record` inside the device namespace (its own session); the Popen.
        ``tunnel``: how the tunnel is named (default ``--tunnel-interface <the wg>``)."""
        tunnel = tunnel or ["--tunnel-interface", self.tunnel]
        argv = ["ip", "netns", "exec", self.names.dev, sys.executable, "-m", "ksaudit.cli",
                "record", "-o", str(out), "--build", "2026.12-rec", "--probe-target", self.target,
                "--vpn-endpoint", self.endpoint, *tunnel,
                "--steady-s", "0.6", "--duration", "30", "--probe-interval-ms", "20", *extra]
        return subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=python_env(),
                                start_new_session=True)

    def sink_records(self):
        """What reached the sink so far: [{ts_ns, src, seq, ...}]."""
        with open(self.work / "sink.jsonl") as fh:
            return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture
def lab_host(tmp_path):
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    names, procs = topo.new_names(), Procs()
    work = tmp_path / "work"
    work.mkdir()
    logs = [open(work / f"{n}.log", "ab") for n in ("wg-server", "wg-client")]
    try:
        topo.create(names, ipv6=False)
        srv_priv, srv_pub = wg.genkeys()
        cli_priv, cli_pub = wg.genkeys()
        wg.start_daemon(procs, "wg-server", names.vpn, names.wg_server, logs[0])
        wg.configure_server(names.vpn, names.wg_server, srv_priv, cli_pub, work)
        wg.start_daemon(procs, "wg-client", names.dev, names.wg_client, logs[1])
        wg.configure_client(names.dev, names.wg_client, cli_priv, work)
        wg.handshake(names.dev, names.wg_client, srv_pub)
        host = LabHost(names, procs, work)
        host.routes("replace")
        ready = work / "sink.ready"
        sink = procs.start("sink", [sys.executable, "-m", "ksaudit.lab.sink", "--out",
                                    str(work / "sink.jsonl"), "--ready-file", str(ready),
                                    "--max-s", "120", "--listen", f"udp:{host.target}"],
                           ns=names.rtr, env=python_env())
        wait_for(lambda: ready.exists() or sink.poll() is not None, 10.0, "the sink to bind")
        assert sink.poll() is None
        yield host
    finally:
        procs.stop_all()
        topo.destroy(names)
        for fh in logs:
            fh.close()
        assert not [n for n in topo.leftovers()["namespaces"] if names.run_id in n]


@pytest.fixture
def netns():
    """One empty lab-named namespace (lo up), deleted afterwards."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    ns = topo.new_names().dev
    topo.sh(["ip", "netns", "add", ns])
    try:
        topo.ipn(ns, "link", "set", "lo", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def finish(proc, timeout_s=RECORD_TIMEOUT_S):
    """Wait (bounded) for a recorder; (returncode, stdout, stderr).  Killed by PID on timeout."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, 9)
        proc.communicate(timeout=10)
        raise AssertionError("ksaudit record did not finish in time")
    return proc.returncode, out.decode(), err.decode()


def descendants(pid):
    """PIDs of every live descendant of ``pid`` (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def alive(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

