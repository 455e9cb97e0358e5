"""Real OpenVPN 2.6 in the lab's namespaces: the per-run PKI, the tunnel through the VPN
exit, SIGKILL taking the tunnel down, and the real log read by the ``openvpn`` format."""

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

from ksaudit.lab import runner, topology, truth
from ksaudit.lab.clients import openvpn as ov
from ksaudit.lab.procs import Procs, python_env
from ksaudit.oslogs import read_events

from .conftest import assert_nothing_left

pytestmark = pytest.mark.lab

ALL_ROUTES = set(ov.REDIRECT_ROUTES4 + ov.REDIRECT_ROUTES6)


@dataclass
class OvpnLab:
    names: topology.Names
    work: str
    procs: Procs
    pki: dict
    server: ov.OpenVPN
    client: ov.OpenVPN


@pytest.fixture
def ovpn(lab):
    """Topology (IPv6 on), PKI, OpenVPN server and client up; everything removed after."""
    if shutil.which("openvpn") is None:
        pytest.skip("OpenVPN lab tests need 'openvpn' (bash .ci/install)")
    names = topology.new_names()
    work = tempfile.mkdtemp(prefix=f"{topology.PREFIX}{names.run_id}-")
    procs = Procs()
    try:
        topology.create(names, ipv6=True)
        pki = ov.make_pki(work)
        cdev, sdev = ov.tun_names(names)
        server = ov.OpenVPN(procs, "ovpn-server", names.vpn, sdev, work, pki,
                            ov.server_options(pki, ipv6=True))
        server.wait_log(ov.INIT_DONE, server.start(), ov.READY_TIMEOUT_S, "server ready")
        client = ov.OpenVPN(procs, "ovpn-client", names.dev, cdev, work, pki, ov.client_options(pki))
        client.wait_ready(client.start(), ALL_ROUTES)
        yield OvpnLab(names, work, procs, pki, server, client)
    finally:
        procs.stop_all()
        topology.destroy(names)
        shutil.rmtree(work, ignore_errors=True)
    assert_nothing_left(names.run_id)


def probe_burst(lab, seconds=0.3):
    """Probes to the sink's IPv4 and IPv6 address for ``seconds``; returns the sources the
    sink saw them from, per destination family ({"4": {...}, "6": {...}})."""
    log = os.path.join(lab.work, f"probes-{time.monotonic_ns()}.jsonl")
    start_ns = time.time_ns()
    argv = [runner.sys.executable, "-m", "ksaudit.lab.probe", "--log", log, "--interval-ms", "10",
            "--max-s", str(seconds), "--dst", f"{topology.SINK_ADDR}:{topology.SINK_PORT}",
            "--dst", f"[{topology.SINK6_ADDR}]:{topology.SINK_PORT}"]
    proc = lab.procs.start("probe", argv, ns=lab.names.dev, env=python_env())
    proc.wait(timeout=seconds + 10)
    lab.procs.forget("probe")
    time.sleep(0.1)
    got = {"4": set(), "6": set()}
    for rec in truth.read_jsonl(os.path.join(lab.work, "sink.jsonl")):
        if rec["send_ts_ns"] and rec["send_ts_ns"] >= start_ns:
            got["6" if rec["dst"].startswith("[") else "4"].add(rec["src"])
    return got


def test_credentials_are_made_per_run_private_and_verify_with_openssl(ovpn):
    pki = ovpn.pki
    for path in pki.values():
        assert os.path.dirname(path) == ovpn.work
    for key in ("server_key", "client_key", "tls_crypt"):
        assert os.stat(pki[key]).st_mode & 0o777 == 0o600
    assert "-----BEGIN OpenVPN Static key V1-----" in open(pki["tls_crypt"]).read()
    proc = subprocess.run(["openssl", "verify", "-CAfile", pki["ca"], pki["server_cert"],
                           pki["client_cert"]], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    purpose = subprocess.run(["openssl", "verify", "-CAfile", pki["ca"], "-purpose", "sslserver",
                              pki["client_cert"]], capture_output=True, text=True, timeout=10)
    assert purpose.returncode != 0            # the client's certificate cannot act as the server


def test_tunnel_exits_at_the_vpn_and_sigkill_takes_it_down(ovpn):
    runner._start_sink(ovpn.procs, ovpn.names, ovpn.work, 60)
    cdev = ovpn.client.dev
    assert ALL_ROUTES <= ov.routes_on(ovpn.names.dev, cdev)
    assert probe_burst(ovpn) == {"4": {topology.UP_VPN}, "6": {topology.UP6_VPN}}
    ovpn.client.kill()
    ovpn.client.reap()
    assert not ov.link_exists(ovpn.names.dev, cdev)
    assert ovpn.client.proc is None
    # no kill switch: traffic falls back to wlan0 and reaches the sink from the LAN address
    assert probe_burst(ovpn) == {"4": {topology.DEV_ADDR}, "6": {topology.DEV6_ADDR}}
    # restarted, it comes back on a new tun device and the probes go through it again
    ovpn.client.wait_ready(ovpn.client.start(), ALL_ROUTES)
    assert probe_burst(ovpn) == {"4": {topology.UP_VPN}, "6": {topology.UP6_VPN}}


def test_real_log_parses_and_its_events_are_recognised(ovpn):
    client, dev = ovpn.client, ovpn.names.dev
    # a management SIGUSR1 restart, then the link goes away until ping-restart notices
    since = client.log_size()
    assert "SUCCESS: signal SIGUSR1 thrown" in client.command("signal SIGUSR1")
    client.wait_ready(since, ALL_ROUTES)
    since = client.log_size()
    topology.ipn(dev, "link", "set", "wlan0", "down")
    client.wait_log("Inactivity timeout (--ping-restart)", since, ov.PING_RESTART_S + 3,
                    "ping-restart after the link went away")
    topology.wlan_up(ovpn.names, topology.DEV_ADDR, True)
    client.wait_ready(since, ALL_ROUTES)
    assert "CONNECTED,SUCCESS" in client.command("state")
    assert client.stop() == 0
    assert not ov.link_exists(dev, client.dev)

    events = read_events(client.log_path, format="openvpn")
    facts = events.attrs["files"][0]
    assert facts.malformed == 0 and facts.events > 50
    assert facts.quantum_ns == 1000                     # --machine-readable-output: µs stamps
    rules = events.groupby("rule")["message"].apply(list).to_dict()
    assert len(rules["openvpn-init-complete"]) == 3
    assert sorted(rules["openvpn-restarting"]) == [
        "SIGUSR1[hard,] received, process restarting",
        "SIGUSR1[soft,ping-restart] received, process restarting"]
    assert rules["openvpn-inactivity"] == ["[ksaudit-lab-server] Inactivity timeout "
                                           "(--ping-restart), restarting"]
    assert rules["openvpn-exiting"] == ["SIGTERM[hard,] received, process exiting"]
    assert len(rules["openvpn-tun-closed"]) == 3
    opened = events[events["rule"] == "openvpn-tun-opened"]
    assert len(opened) == 3 and set(opened["iface"]) == {client.dev}
    kinds = events.set_index("rule")["kind"]
    assert kinds["openvpn-inactivity"] == "tunnel_down"
    assert set(kinds[["openvpn-init-complete"]]) == {"tunnel_up"}
    # the log's stamps are the harness's clock: the restart lies inside this test
    assert events["ts_ns"].is_monotonic_increasing
    server = read_events(ovpn.server.log_path, format="openvpn").attrs["files"][0]
    assert server.malformed == 0
