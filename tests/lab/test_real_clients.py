"""Real clients in the lab (``--client wg-quick``, ``--client FILE``), judged on the sink's
truth, and analysed by ksaudit as a user would."""

import json
import os
import shutil

import pytest
import yaml

from ksaudit import analyze
from ksaudit.errors import KsauditError
from ksaudit.lab import clients, runner
from ksaudit.oslogs import read_events

from .conftest import assert_nothing_left
from .test_lab_runs import host_state, lab_run

pytestmark = pytest.mark.lab


def leaked(truth):
    return sum(t["leaked_probes"] for t in truth["trials"]) + truth["steady_state"]["leaked_probes"]


def outside_seqs(truth):
    return {s for part in truth["trials"] + [truth["steady_state"]] for s in part["outside_seqs"]}


def analysed_leaks(out):
    """(analysis, {probe seq: frame time}) of the frames ksaudit calls leaks."""
    a = analyze(str(out), deep=False)
    rows = a.leaks[(a.leaks["rule"].astype(str) == "leak") & (a.leaks["probe_seq"] >= 0)]
    return a, dict(zip(rows["probe_seq"].astype(int), rows["ts_ns"].astype(int)))


def wg_quick_lines(out):
    """wg-quick's own lines (its stderr, stamped), read back with ksaudit's wg-quick format."""
    ev = read_events(str(out / "logs" / "wg-quick.log"), format="wg-quick")
    return list(ev["message"].astype(str))


def resolv_conf():
    with open("/etc/resolv.conf", "rb") as fh:
        return fh.read()


def test_wg_quick_none_leaks_on_process_kill_as_the_sink_saw(lab, tmp_path):
    before = resolv_conf()
    out, truth = lab_run(tmp_path, "process-kill", "none", client="wg-quick")
    assert resolv_conf() == before
    trial = truth["trials"][0]
    assert truth["expected_verdict"] == "FAIL" and truth["client"] == "wg-quick"
    # the ip rules outlive the killed wireguard-go: table 51820 empties, main's default wins
    assert trial["leak_sources"] == ["192.168.50.10"] and trial["leaked_probes"] > 10
    a, leaks = analysed_leaks(out)
    assert a.verdict.status == "FAIL"
    assert set(leaks) == outside_seqs(truth)
    # every leaked frame lies in the truth's episode window
    assert trial["down_ns"] <= min(leaks.values()) and max(leaks.values()) <= trial["restored_ns"]
    scenario = yaml.safe_load((out / "scenario.yaml").read_text())
    assert scenario["vpn"]["processes"] == ["wireguard-go"]
    assert scenario["device"]["tunnel_interfaces"] == [f"wgksc{truth['run_id']}"]
    assert [(lg["file"], lg["format"]) for lg in scenario["logs"]][1:3] == [
        ("logs/wireguard-go.log", "wireguard-go"), ("logs/wg-quick.log", "wg-quick")]
    changes = [c["change"] for c in trial["state_changes"]]
    assert changes == ["process_killed", "interface_removed", "process_started", "tunnel_up"]
    lines = wg_quick_lines(out)
    assert lines.count(f"[#] wireguard-go wgksc{truth['run_id']}") == 2     # connect, restart


def test_wg_quick_strong_leaks_nothing_and_passes(lab, tmp_path):
    """Here wg-quick's stderr goes to the journal under its identifier (as systemd's
    wg-quick@.service would have it), not to a file of its own."""
    doc = yaml.safe_load(open(clients.NAMED_FILES["wg-quick"]))
    doc["logs"][1] = {"source": "stderr", "journal": "wg-quick"}
    mine = tmp_path / "wg-quick-journal.yaml"
    mine.write_text(yaml.safe_dump(doc))
    out, truth = lab_run(tmp_path, "process-kill", "strong", client=str(mine))
    assert leaked(truth) == 0 and truth["trials"][0]["probes"]["blocked"].get("EPERM", 0) > 10
    a, leaks = analysed_leaks(out)
    assert a.verdict.status == "PASS" and leaks == {}
    assert not (out / "logs" / "wg-quick.log").exists()
    journal = read_events(str(out / "logs" / "journal.json"), format="journald-json")
    mine = journal[journal["ident"].astype(str) == "wg-quick"]
    assert f"[#] ip link add wgksc{truth['run_id']} type wireguard" in set(mine["message"])
    assert set(mine[mine["message"].str.startswith("[#] ip -4 rule add table main")]["kind"]) == {"tunnel_up"}


def test_policy_client_recipe_blocks_a_kill_but_not_wg_quick_down(lab, tmp_path):
    """The PostUp REJECT rule stays when wireguard-go is killed (PreDown never runs), so the
    kill leaks nothing; `wg-quick down` runs PreDown first, and the reconnect gap and the
    user's disconnect leak."""
    out, truth = lab_run(tmp_path / "kill", "process-kill", "client", client="wg-quick")
    trial = truth["trials"][0]
    assert trial["leaked_probes"] == 0 and trial["probes"]["blocked"].get("EPERM", 0) > 10, trial["probes"]
    lines = wg_quick_lines(out)
    assert sum(ln.startswith("[#] iptables -I OUTPUT") for ln in lines) == 2   # up, restart
    assert not any(ln.startswith("[#] iptables -D OUTPUT") for ln in lines)
    # analyze finds no leak; its verdict is PASS, or INCONCLUSIVE (no_tunnel_down) when the
    # loaded machine stalls the probe generator for tens of ms inside this ~5.5 s window
    # (a gap in the tunnel traffic that no log explains: 2 runs of 8 here)
    a, leaks = analysed_leaks(out)
    assert leaks == {} and a.verdict.status != "FAIL"
    assert {r.code for r in a.verdict.reasons} <= {"no_tunnel_down"}

    for event in ("reconnect", "disconnect"):
        out, truth = lab_run(tmp_path / event, event, "client", client="wg-quick")
        trial = truth["trials"][0]
        assert trial["leaked_probes"] > 5 and trial["probes"]["blocked"] == {}, (event, trial["probes"])
        lines = wg_quick_lines(out)
        assert any(ln.startswith("[#] iptables -D OUTPUT") for ln in lines)
        a, leaks = analysed_leaks(out)
        assert a.verdict.status == "FAIL", (event, [(r.code, r.message) for r in a.verdict.reasons])
        assert set(leaks) == outside_seqs(truth), (event, set(leaks) ^ outside_seqs(truth))


THREE = ("process-kill", "wifi-yank", "reconnect")      # the seed's three tests


@pytest.mark.parametrize("policy", ["none", "strong"])
def test_the_example_client_file_runs_the_three_tests(lab, tmp_path, policy):
    """A copy of the packaged example, given as --client FILE (bring your own client)."""
    mine = tmp_path / "my-wg-quick.yaml"
    shutil.copy(clients.NAMED_FILES["wg-quick"], mine)
    for event in THREE:
        out, truth = lab_run(tmp_path / event, event, policy, client=str(mine))
        scenario = yaml.safe_load((out / "scenario.yaml").read_text())
        assert "client wg-quick" in scenario["description"]
        if policy == "strong" or event == "wifi-yank":
            # wifi-yank: WireGuard keeps its routes; traffic waits in the tunnel for the link
            assert leaked(truth) == 0, (event, policy)
        else:
            assert truth["trials"][0]["leaked_probes"] > 5, (event, policy)
        with open(out / "lab-truth.json") as fh:
            assert json.load(fh)["client"] == "wg-quick"


def test_a_client_that_cannot_connect_is_one_line_and_leaves_nothing(lab, tmp_path, monkeypatch):
    doc = yaml.safe_load(open(clients.NAMED_FILES["wg-quick"]))
    doc["connect"] = ["sh", "-c", "echo 'cannot reach {endpoint}' >&2; exit 3"]
    bad = tmp_path / "refuses.yaml"
    bad.write_text(yaml.safe_dump(doc))
    made = []
    new_names = runner.topo.new_names
    monkeypatch.setattr(runner.topo, "new_names", lambda: made.append(new_names()) or made[-1])
    before, out = host_state(), tmp_path / "b" / "s"
    with pytest.raises(KsauditError) as err:
        runner.run(runner.RunOptions(event="reconnect", policy="none", out=str(out),
                                     client=str(bad)))
    assert str(err.value) == ("lab: client wg-quick: connect command failed (3) 3 times: "
                              "cannot reach 198.51.100.2:51820")
    assert host_state() == before and list((tmp_path / "b").iterdir()) == []
    assert_nothing_left(made[0].run_id)


def test_a_client_file_with_an_interface_name_of_its_own(lab, tmp_path):
    """`interface: wgq{run_id}`: wg-quick's config file, the process to find and the
    scenario all use it, and the killed daemon's socket is gone afterwards."""
    doc = yaml.safe_load(open(clients.NAMED_FILES["wg-quick"]))
    doc["interface"] = "wgq{run_id}"
    mine = tmp_path / "own-name.yaml"
    mine.write_text(yaml.safe_dump(doc))
    out, truth = lab_run(tmp_path, "process-kill", "none", client=str(mine))
    ifname = f"wgq{truth['run_id']}"
    scenario = yaml.safe_load((out / "scenario.yaml").read_text())
    assert scenario["device"]["tunnel_interfaces"] == [ifname]
    assert ifname in scenario["device"]["ifindex"].values()
    assert truth["trials"][0]["leaked_probes"] > 5
    assert f"[#] ip link add {ifname} type wireguard" in wg_quick_lines(out)
    assert not os.path.exists(f"/var/run/wireguard/{ifname}.sock")


@pytest.mark.parametrize("policy", ["none", "strong"])
def test_the_openvpn_example_file_under_process_kill(lab, tmp_path, policy):
    """A copy of the packaged openvpn client file as --client FILE: the real openvpn, in
    the background from its rendered config, SIGKILLed, and started again by the lab with
    the file's connect command against the lab's OpenVPN server."""
    mine = tmp_path / "my-openvpn.yaml"
    shutil.copy(os.path.join(clients.registry.EXAMPLES, "openvpn.yaml"), mine)
    out, truth = lab_run(tmp_path, "process-kill", policy, client=str(mine))
    trial = truth["trials"][0]
    assert truth["client"] == "openvpn-daemon"
    a, leaks = analysed_leaks(out)
    if policy == "none":
        # the tun device and the /1 routes on it go with the process: main's default wins
        assert truth["expected_verdict"] == "FAIL" and trial["leaked_probes"] > 10
        assert trial["leak_sources"] == ["192.168.50.10"]
        assert a.verdict.status == "FAIL"
        assert set(leaks) == outside_seqs(truth)
        assert trial["down_ns"] <= min(leaks.values()) and max(leaks.values()) <= trial["restored_ns"]
    else:
        assert leaked(truth) == 0 and trial["probes"]["blocked"].get("EPERM", 0) > 10
        assert a.verdict.status == "PASS" and leaks == {}
    changes = [c["change"] for c in trial["state_changes"]]
    assert changes == ["process_killed", "interface_removed", "process_started", "tunnel_up"]
    scenario = yaml.safe_load((out / "scenario.yaml").read_text())
    assert scenario["vpn"]["processes"] == ["openvpn"]
    assert scenario["vpn"]["endpoints"] == ["198.51.100.2:1194/udp"]
    assert scenario["device"]["tunnel_interfaces"] == [f"ovksc{truth['run_id']}"]
    assert ("logs/openvpn.log", "openvpn") in [(lg["file"], lg["format"]) for lg in scenario["logs"]]
    # openvpn's own log, read back with ksaudit's openvpn format: connect and restart
    ev = read_events(str(out / "logs" / "openvpn.log"), format="openvpn")
    assert list(ev["message"].astype(str)).count("Initialization Sequence Completed") == 2
