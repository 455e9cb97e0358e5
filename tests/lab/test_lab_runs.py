"""Real lab runs, judged on the sink's truth (never on the capture)."""

import json
import os
import struct
import subprocess

import pytest
import yaml

from ksaudit.errors import KsauditError
from ksaudit.lab import events, runner, topology

from .conftest import assert_nothing_left

pytestmark = pytest.mark.lab

FAST = events.Timing(down_ms=400, settle_ms=150, reconnect_gap_ms=300, flap_ms=80)
DEVICE_SOURCES = {topology.DEV_ADDR, topology.DEV6_ADDR, topology.DEV2_ADDR, topology.DEV2_6_ADDR}
SCENARIO_KEYS = {"build", "platform", "scenario", "description", "device", "vpn", "policy",
                 "captures", "logs", "clocks"}


def host_state():
    """The host's own interfaces, routes and ruleset: the lab must never change them."""
    def run(*argv):
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    links = sorted(link["ifname"] for link in json.loads(run("ip", "-j", "link", "show") or "[]"))
    sysctls = [open(f"/proc/sys/net/{key}").read() for key in
               ("ipv4/ip_forward", "ipv6/conf/all/forwarding", "ipv6/conf/all/accept_dad")]
    return (links, run("ip", "route", "show"), run("ip", "-6", "route", "show"),
            run("nft", "list", "ruleset"), sysctls)


def lab_run(tmp_path, event, policy, **kw):
    kw.setdefault("timing", FAST)
    kw.setdefault("steady_ms", 200)
    out = tmp_path / "build-x" / f"{policy}-{event}"
    before = host_state()
    result = runner.run(runner.RunOptions(event=event, policy=policy, out=str(out), **kw))
    assert host_state() == before
    assert_nothing_left(result.truth["run_id"])
    return out, result.truth


def probe_log(out):
    with open(out / "logs" / "probes.jsonl") as fh:
        return {r["seq"]: r for r in map(json.loads, fh)}


LEAKY = [
    ("none", "process-kill", {}),
    ("app-level", "process-kill", {}),
    ("weak-reconnect", "reconnect", {}),
    ("fail-open-sleep", "sleep-wake", {}),
    ("ipv4-only", "wifi-yank", {"ipv6": True}),
]


@pytest.mark.parametrize("policy,event,flags", LEAKY, ids=[f"{p}-{e}" for p, e, _ in LEAKY])
def test_weak_policy_leaks_under_its_event(lab, tmp_path, policy, event, flags):
    out, truth = lab_run(tmp_path, event, policy, **flags)
    trial = truth["trials"][0]
    assert truth["expected_verdict"] == "FAIL" and truth["expected_reasons"] == ["leak"]
    assert trial["leaked"] and trial["leaked_probes"] >= 5
    assert set(trial["leak_sources"]) <= DEVICE_SOURCES
    # every leaked seq was really attempted, inside the episode, and the OS said "sent"
    probes = probe_log(out)
    for seq in trial["outside_seqs"]:
        assert probes[seq]["result"] == "sent"
        assert trial["down_ns"] <= probes[seq]["ts_ns"] <= trial["restored_ns"]
    assert truth["steady_state"]["leaked_probes"] == 0
    if policy == "ipv4-only":       # IPv4 blocked, IPv6 escaped
        assert all(d.startswith("[") for d in trial["leak_destinations"])
        assert trial["probes"]["blocked"].get("EPERM", 0) > 0


@pytest.mark.parametrize("event", sorted(events.EVENTS))
def test_strong_never_leaks(lab, tmp_path, event):
    out, truth = lab_run(tmp_path, event, "strong", ipv6=True, allow_lan=True)
    assert truth["expected_verdict"] == "PASS", truth["expected_reasons"]
    for trial in truth["trials"]:
        assert trial["outside_seqs"] == [] and trial["dns_lan_seqs"] == []
        assert trial["probes"]["attempted"] > 0
        assert sum(trial["probes"]["blocked"].values()) > 0      # traffic was tried and refused
    assert truth["steady_state"]["leaked_probes"] == 0
    # the LAN escape valve let the printer through, and DNS to the LAN resolver never left
    assert truth["sink"]["by_class"].get("lan", 0) > 0
    assert truth["sink"]["by_class"].get("dns_lan", 0) == 0
    check_scenario_dir(out, truth)


def check_scenario_dir(out, truth):
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert set(sc) == SCENARIO_KEYS
    assert sc["build"] == truth["build"] == out.parent.name       # -o captures/<build>/<scenario>
    assert sc["device"]["physical_interfaces"] == (["wlan0", "eth0"] if truth["event"] ==
                                                   "network-change" else ["wlan0"])
    wg_name = sc["device"]["tunnel_interfaces"][0]
    assert len(wg_name) <= 15 and truth["run_id"] in wg_name
    assert "wlan0" in sc["device"]["ifindex"].values() and wg_name in sc["device"]["ifindex"].values()
    for cap in sc["captures"]:
        assert cap["dropped"] == 0
        with open(out / cap["file"], "rb") as fh:
            magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", fh.read(24))
        assert magic == 0xA1B23C4D                                  # nanosecond pcap
        assert linktype == (276 if cap["vantage"] == "device" else 1)   # SLL2 / Ethernet
    formats = {log["format"] for log in sc["logs"]}
    assert formats == {"journald-json", "wireguard-go", "ksaudit-probe"}
    for log in sc["logs"]:
        assert (out / log["file"]).stat().st_size > 0
    with open(out / "logs" / "journal.json") as fh:
        recs = [json.loads(line) for line in fh]
    for rec in recs:
        assert all(isinstance(v, str) for v in rec.values())
        assert {"__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP", "_BOOT_ID", "MESSAGE",
                "SYSLOG_IDENTIFIER"} <= set(rec)
    msgs = [r["MESSAGE"] for r in recs if r["SYSLOG_IDENTIFIER"] == "ksaudit-lab-client"]
    assert any(m.startswith("tunnel up") for m in msgs)
    # at boot the tunnel was never up before: it only comes up
    assert any(m.startswith("tunnel down") for m in msgs) is (truth["event"] != "boot")
    with open(out / "ip-link.json") as fh:
        assert {link["ifname"] for link in json.load(fh)} >= {"lo", "wlan0"}


def test_trials_repeat_the_event_in_one_capture(lab, tmp_path):
    out, truth = lab_run(tmp_path, "reconnect", "none", trials=3)
    assert truth["trial_count"] == 3
    prev_restored = 0
    for trial in truth["trials"]:
        assert prev_restored < trial["down_ns"] < trial["restored_ns"]
        assert trial["leaked"]
        prev_restored = trial["restored_ns"]
    seqs = [set(t["outside_seqs"]) for t in truth["trials"]]
    assert not (seqs[0] & seqs[1]) and not (seqs[1] & seqs[2])


def test_no_probes_is_inconclusive(lab, tmp_path):
    out, truth = lab_run(tmp_path, "process-kill", "strong", probes=False)
    assert truth["expected_verdict"] == "INCONCLUSIVE"
    assert truth["expected_reasons"] == ["no_traffic_attempted"]
    with open(out / "scenario.yaml") as fh:
        assert "ksaudit-probe" not in {log["format"] for log in yaml.safe_load(fh)["logs"]}


def test_failure_mid_run_removes_everything(lab, tmp_path, monkeypatch):
    seen = {}

    def broken(client, timing):
        client.tunnel_down("about to fail")
        seen["run_id"] = client.names.run_id
        assert os.path.exists(f"/var/run/netns/{client.names.dev}")
        raise KsauditError("injected failure")

    monkeypatch.setitem(events.EVENTS, "reconnect", broken)
    out = tmp_path / "b" / "broken"
    with pytest.raises(KsauditError, match="injected failure"):
        runner.run(runner.RunOptions(event="reconnect", policy="strong", out=str(out),
                                     timing=FAST, steady_ms=100))
    assert_nothing_left(seen["run_id"])
    assert not out.exists() and list((tmp_path / "b").iterdir()) == []


def test_failure_while_connecting_removes_everything(lab, tmp_path, monkeypatch):
    """A failure during set-up (server, sink and client process up; no captures yet)."""
    from ksaudit.lab.clients import harness as client_mod
    seen = {}

    def no_handshake(ns, ifname, server_pub, timeout_s=0):
        seen["run_id"] = ifname[len(topology.WG_PREFIX) + 1:]
        raise KsauditError(f"lab: timed out after 5.0s waiting for WireGuard handshake on {ifname}")

    monkeypatch.setattr(client_mod.wg, "handshake", no_handshake)
    out = tmp_path / "b" / "s"
    with pytest.raises(KsauditError, match="handshake"):
        runner.run(runner.RunOptions(event="reconnect", policy="strong", out=str(out), ipv6=True,
                                     allow_lan=True, timing=FAST, steady_ms=100))
    assert_nothing_left(seen["run_id"])
    assert list((tmp_path / "b").iterdir()) == []


def test_existing_output_is_never_overwritten(lab, tmp_path):
    out = tmp_path / "b" / "s"
    out.mkdir(parents=True)
    (out / "evidence.pcap").write_bytes(b"x")
    with pytest.raises(KsauditError, match="not empty"):
        runner.run(runner.RunOptions(event="reconnect", policy="strong", out=str(out)))
    assert (out / "evidence.pcap").read_bytes() == b"x"
