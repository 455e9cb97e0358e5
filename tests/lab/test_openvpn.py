"""Real OpenVPN 2.6 in the lab's namespaces: the per-run PKI, the tunnel through the VPN
exit, SIGKILL taking the tunnel down, and the real log read by the ``openvpn`` format."""

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest
import yaml

import ksaudit
from ksaudit.errors import KsauditError
from ksaudit.lab import events, runner, topology, truth
from ksaudit.lab import openvpn as ov
from ksaudit.lab.procs import Procs, python_env
from ksaudit.oslogs import read_events

from .conftest import assert_nothing_left
from .test_foreign_rig import leak_frames
from .test_lab_runs import FAST, lab_run

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
def ovpn_ok(lab):
    """Skips without root or without openvpn."""
    if shutil.which("openvpn") is None:
        pytest.skip("OpenVPN lab tests need 'openvpn' (bash .ci/install)")


@pytest.fixture
def ovpn(ovpn_ok):
    """Topology (IPv6 on), PKI, OpenVPN server and client up; everything removed after."""
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
        client = ov.OpenVPN(procs, "ovpn-client", names.dev, cdev, work, pki,
                            ov.client_options(pki))
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


def test_credentials_are_made_per_run_private_and_verify_with_openssl(tmp_path):
    """No root needed: the PKI is files in the run's work directory."""
    if shutil.which("openvpn") is None:
        pytest.skip("needs 'openvpn' (bash .ci/install)")
    pki = ov.make_pki(str(tmp_path))
    for path in pki.values():
        assert os.path.dirname(path) == str(tmp_path)
    for key in ("server_key", "client_key", "tls_crypt"):
        assert os.stat(pki[key]).st_mode & 0o777 == 0o600
    assert "-----BEGIN OpenVPN Static key V1-----" in open(pki["tls_crypt"]).read()
    proc = subprocess.run(["openssl", "verify", "-CAfile", pki["ca"], pki["server_cert"],
                           pki["client_cert"]], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    purpose = subprocess.run(["openssl", "verify", "-CAfile", pki["ca"], "-purpose", "sslserver",
                              pki["client_cert"]], capture_output=True, text=True, timeout=10)
    assert purpose.returncode != 0            # the client's certificate cannot act as the server


def test_without_openvpn_one_line_before_any_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(KsauditError, match=r"^lab: --client openvpn needs 'openvpn' on PATH"):
        ov.make_pki(str(tmp_path))
    assert os.listdir(tmp_path) == []


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
    (banner,) = rules["openvpn-start"]                  # once per process, not per restart
    assert banner.startswith("OpenVPN 2.6")
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


# --------------------------------------------------------- --client openvpn: analyze vs the sink
# a Wi-Fi loss OpenVPN notices: longer than its ping-restart (a shorter one it rides out)
YANK = events.Timing(down_ms=(ov.PING_RESTART_S + 1.5) * 1000, settle_ms=150)


def openvpn_run(tmp_path, policy, event):
    timing = YANK if event == "wifi-yank" else FAST
    return lab_run(tmp_path, event, policy, client="openvpn", timing=timing)


@pytest.mark.parametrize("event", ["process-kill", "wifi-yank"])
def test_openvpn_without_kill_switch_leaks_and_analyze_finds_the_same_window(ovpn_ok, tmp_path,
                                                                            event):
    out, truth = openvpn_run(tmp_path, "none", event)
    (trial,) = truth["trials"]
    assert truth["expected_verdict"] == "FAIL" and trial["leaked_probes"] >= 5
    assert truth["steady_state"]["leaked_probes"] == 0
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert sc["vpn"]["endpoints"] == ["198.51.100.2:1194/udp"]
    assert {"file": "logs/openvpn.log", "format": "openvpn", "clock": "device"} in sc["logs"]
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "FAIL" and {r.code for r in a.verdict.reasons} == {"leak"}
    want = leak_frames(out, sc, set(trial["outside_seqs"]))
    sent = a.leaks[a.leaks["rule"].astype(str) == "leak"]
    assert {(int(r.capture), int(r.frame)): int(r.ts_ns) for r in sent.itertuples()} == want
    assert set(sent["probe_seq"].astype(int)) == set(trial["outside_seqs"])
    (ep,) = [e for e in a.episodes if e.leaked_frames]
    assert (ep.first_leak_ns, ep.last_leak_ns) == (min(want.values()), max(want.values()))
    assert trial["down_ns"] <= ep.first_leak_ns <= trial["first_leak_arrival_ns"]
    assert ep.last_leak_ns <= trial["last_leak_arrival_ns"] <= trial["restored_ns"]
    assert a.steady_state["leaked_frames"] == 0
    rules = set(read_events(out / "logs" / "openvpn.log", format="openvpn")["rule"])
    if event == "wifi-yank":        # OpenVPN's own account of the loss and the reconnect
        assert {"openvpn-inactivity", "openvpn-restarting", "openvpn-init-complete"} <= rules


@pytest.mark.parametrize("event", ["process-kill", "wifi-yank", "reconnect"])
def test_openvpn_with_the_strong_kill_switch_leaks_nothing_and_passes(ovpn_ok, tmp_path, event):
    out, truth = openvpn_run(tmp_path, "strong", event)
    assert truth["expected_verdict"] == "PASS"
    assert truth["sink"]["by_class"].get("outside", 0) == 0
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "PASS", ([(r.code, r.message) for r in a.verdict.reasons],
                                        a.to_dict()["episodes"], out)
    assert len(a.leaks) == 0 and len(a.episodes) >= 1


@pytest.mark.parametrize("event,leaks", [("reconnect", False), ("process-kill", True)])
def test_openvpn_persist_tun_holds_a_restart_but_not_a_kill(ovpn_ok, tmp_path, event, leaks):
    """--policy client is openvpn --persist-tun: its tun device and routes outlive a SIGUSR1
    restart (traffic waits in the tunnel), not the process."""
    out, truth = openvpn_run(tmp_path, "client", event)
    (trial,) = truth["trials"]
    assert trial["leaked"] is leaks and truth["expected_verdict"] == ("FAIL" if leaks else "PASS"), \
        (truth["expected_reasons"], trial["down_for_us"], trial["probes"])
    if not leaks:
        assert "Preserving previous TUN/TAP instance" in (out / "logs" / "openvpn.log").read_text()
    assert ksaudit.analyze(out, deep=False).verdict.status == truth["expected_verdict"]


def test_a_short_wifi_loss_ends_in_ping_restart_because_the_host_route_is_gone(ovpn_ok, tmp_path):
    """No kill switch, 400 ms without wlan0: openvpn's host route to its server went with
    wlan0 and nothing puts it back, so its packets go into its own tun device (recursive
    routing) while the server's pings still reach it; it restarts only when the server has
    dropped it and ping-restart fires, and traffic leaks for the restart pause.  The
    tunnel-up stamp waits for the server to hear from it again."""
    out, truth = lab_run(tmp_path, "wifi-yank", "none", client="openvpn")
    (trial,) = truth["trials"]
    assert truth["expected_verdict"] == "FAIL" and trial["leaked"]
    log = (out / "logs" / "openvpn.log").read_text()
    assert "Inactivity timeout (--ping-restart)" in log
    assert trial["down_for_us"] > (ov.PING_RESTART_S - ov.PING_S) * 10**6   # from the last ping heard
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "FAIL", [(r.code, r.message) for r in a.verdict.reasons]
    assert set(a.leaks["probe_seq"].astype(int)) == set(trial["outside_seqs"])
    assert any("recursive routing" in n for n in a.notes)


@pytest.mark.parametrize("policy,verdict", [("none", "FAIL"), ("client", "INCONCLUSIVE")])
def test_network_change_needs_ping_restart_and_persist_tun_never_reconnects(ovpn_ok, tmp_path,
                                                                           policy, verdict):
    """The device moves wlan0 -> eth0: the tunnel is up again only once the server hears
    from the client's new address (after ping-restart), and analyze agrees with the truth;
    with persist-tun the restarted openvpn's own packets stay in its tun device, nothing
    leaks and the trial is never restored (both say INCONCLUSIVE capture_gap)."""
    out, truth = lab_run(tmp_path, "network-change", policy, client="openvpn")
    (trial,) = truth["trials"]
    assert truth["expected_verdict"] == verdict
    assert "Inactivity timeout (--ping-restart)" in (out / "logs" / "openvpn.log").read_text()
    if policy == "client":
        assert trial["restored_ns"] is None and truth["expected_reasons"] == ["capture_gap"]
        assert not trial["leaked"]
    else:
        up = [c for c in trial["state_changes"] if c["change"] == "tunnel_up"]
        assert up and up[-1]["ts_ns"] == trial["restored_ns"]
        assert trial["down_for_us"] > (ov.PING_RESTART_S - ov.PING_S) * 10**6   # from the last ping heard
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == verdict, ([(r.code, r.message) for r in a.verdict.reasons], out)
