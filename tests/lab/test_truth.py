"""lab-truth.json from sink and probe records (no root needed)."""

import pytest

from ksaudit.lab import topology as topo, truth

META = {"build": "b", "scenario": "s", "policy": "none", "event": "reconnect", "allow_lan": False,
        "ipv6": True, "probes": True, "probe_interval_ms": 10.0, "timing": {}, "run_id": "abc123",
        "started_ns": 0, "ended_ns": 10_000}
CAPS = [{"file": "device.pcap", "vantage": "device", "dropped": 0}]
TRIALS = [{"down_ns": 1000, "restored_ns": 2000, "changes": [
    {"ts_ns": 1000, "change": "firewall_released", "detail": ""},
    {"ts_ns": 1001, "change": "tunnel_down", "detail": ""},
    {"ts_ns": 2000, "change": "tunnel_up", "detail": ""}]}]


def probe(seq, ts, dst="203.0.113.80:33434", result="sent", proto="udp"):
    return {"ts_ns": ts, "seq": seq, "dst": dst, "proto": proto, "result": result}


def arrival(seq, src, dst="203.0.113.80:33434", proto="udp", ts=None):
    return {"ts_ns": ts or seq * 10 + 5, "src": src, "dst": dst, "proto": proto, "seq": seq,
            "send_ts_ns": None}


def build(sink, probes, meta=META, caps=CAPS, trials=TRIALS):
    return truth.build(meta, trials, [], sink, probes, caps)


@pytest.mark.parametrize("rec,cls", [
    (arrival(1, topo.UP_VPN), "tunnel"),
    (arrival(1, topo.UP6_VPN, dst="[2001:db8:113::80]:33434"), "tunnel"),
    (arrival(1, topo.DEV_ADDR), "outside"),
    (arrival(1, topo.DEV6_ADDR, dst="[2001:db8:113::80]:33434"), "outside"),
    (arrival(1, topo.DEV_ADDR, dst=f"{topo.PRINTER_ADDR}:9100"), "lan"),
    (arrival(1, topo.DEV_ADDR, dst=f"{topo.LAN_RESOLVER}:53", proto="dns"), "dns_lan"),
    (arrival(1, topo.UP_VPN, dst=f"{topo.TUNNEL_RESOLVER}:53", proto="dns"), "dns_tunnel"),
    (arrival(1, topo.DEV_ADDR, dst=f"{topo.TUNNEL_RESOLVER}:53", proto="dns"), "dns_outside"),
])
def test_classify_by_source_and_destination(rec, cls):
    assert truth.classify(rec) == cls


def test_leak_inside_the_trial_is_a_fail_with_its_seqs():
    probes = [probe(1, 500), probe(2, 1500), probe(3, 1600, result="EPERM"), probe(4, 2500)]
    sink = [arrival(1, topo.UP_VPN), arrival(2, topo.DEV_ADDR, ts=1510), arrival(4, topo.UP_VPN)]
    doc = build(sink, probes)
    t = doc["trials"][0]
    assert doc["expected_verdict"] == "FAIL" and doc["expected_reasons"] == ["leak"]
    assert t["outside_seqs"] == [2] and t["leak_sources"] == [topo.DEV_ADDR]
    assert t["first_leak_arrival_ns"] == t["last_leak_arrival_ns"] == 1510
    assert t["probes"] == {"attempted": 2, "sent": 1, "blocked": {"EPERM": 1}}
    assert [c["change"] for c in t["firewall_changes"]] == ["firewall_released"]
    assert doc["steady_state"]["tunnel_seqs_count"] == 2


def test_leak_outside_every_trial_is_a_steady_state_fail():
    doc = build([arrival(1, topo.DEV_ADDR)], [probe(1, 500), probe(2, 1500)])
    assert doc["expected_verdict"] == "FAIL" and doc["expected_reasons"] == ["steady_state_leak"]
    assert doc["steady_state"]["outside_seqs"] == [1]


def test_no_leak_and_probes_blocked_is_a_pass():
    doc = build([arrival(1, topo.UP_VPN)], [probe(1, 500), probe(2, 1500, result="EPERM")])
    assert doc["expected_verdict"] == "PASS" and doc["expected_reasons"] == []


def test_silent_device_and_drops_are_inconclusive():
    silent = build([], [], meta={**META, "probes": False})
    assert (silent["expected_verdict"], silent["expected_reasons"]) == ("INCONCLUSIVE", ["no_traffic_attempted"])
    unprobed = build([], [probe(1, 500)])           # probes ran, but none inside the episode
    assert unprobed["expected_reasons"] == ["no_traffic_attempted"]
    dropped = build([], [probe(2, 1500, result="EPERM")],
                    caps=[{"file": "device.pcap", "vantage": "device", "dropped": 3}])
    assert (dropped["expected_verdict"], dropped["expected_reasons"]) == ("INCONCLUSIVE", ["dropped_packets"])


def test_lan_probes_are_leaks_only_without_allow_lan():
    sink = [arrival(2, topo.DEV_ADDR, dst=f"{topo.PRINTER_ADDR}:9100")]
    probes = [probe(2, 1500, dst=f"{topo.PRINTER_ADDR}:9100")]
    assert build(sink, probes, meta={**META, "allow_lan": True})["expected_verdict"] == "PASS"
    assert build(sink, probes)["expected_verdict"] == "FAIL"
    dns = [arrival(2, topo.DEV_ADDR, dst=f"{topo.LAN_RESOLVER}:53", proto="dns")]
    doc = build(dns, [probe(2, 1500, dst=f"{topo.LAN_RESOLVER}:53", proto="dns")],
                meta={**META, "allow_lan": True})
    assert doc["expected_verdict"] == "FAIL" and doc["trials"][0]["dns_lan_seqs"] == [2]


def test_dns_to_the_tunnel_resolver_sent_outside_is_a_dns_leak_not_a_probe_leak():
    rec = arrival(2, topo.DEV_ADDR, dst=f"{topo.TUNNEL_RESOLVER}:53", proto="dns")
    doc = build([rec], [probe(2, 1500, dst=f"{topo.TUNNEL_RESOLVER}:53", proto="dns")])
    t = doc["trials"][0]
    assert doc["expected_verdict"] == "FAIL"
    assert t["outside_seqs"] == [] and t["dns_outside_seqs"] == [2]


@pytest.mark.parametrize("promise, verdict", [(True, "FAIL"), (None, "FAIL"), (False, "INCONCLUSIVE")])
def test_a_disconnect_leak_counts_only_where_blocking_is_promised(promise, verdict):
    meta = dict(META, event="disconnect", blocks_when_disconnected=promise)
    doc = build([arrival(2, topo.DEV_ADDR, ts=1510)], [probe(1, 500), probe(2, 1500)], meta=meta)
    (t,) = doc["trials"]
    assert t["leaked"] and t["outside_seqs"] == [2]          # listed whatever the promise
    assert t["promised"] is (promise is not False) and doc["blocks_when_disconnected"] is promise
    assert doc["expected_verdict"] == verdict


def test_an_unpromised_disconnect_does_not_excuse_a_steady_state_leak():
    meta = dict(META, event="disconnect", blocks_when_disconnected=False)
    doc = build([arrival(1, topo.DEV_ADDR)], [probe(1, 500), probe(2, 1500)], meta=meta)
    assert doc["expected_verdict"] == "FAIL" and doc["expected_reasons"] == ["steady_state_leak"]


def test_the_promise_excuses_nothing_on_another_event():
    meta = dict(META, event="reconnect", blocks_when_disconnected=False)
    doc = build([arrival(2, topo.DEV_ADDR, ts=1510)], [probe(1, 500), probe(2, 1500)], meta=meta)
    assert doc["expected_verdict"] == "FAIL"
    assert "promised" not in doc["trials"][0] and "blocks_when_disconnected" not in doc


def test_a_trial_never_restored_lasts_to_the_end_and_is_inconclusive_unless_it_leaked():
    """A real client that never came back (openvpn --persist-tun after a network change):
    the trial's window runs to the run's end; no leak is INCONCLUSIVE capture_gap, a leak
    in it still FAILs."""
    unrestored = [{"down_ns": 1000, "restored_ns": None, "changes": TRIALS[0]["changes"][:2]}]
    probes = [probe(1, 500), probe(2, 1500), probe(3, 9000)]
    doc = build([arrival(1, topo.UP_VPN)], probes, trials=unrestored)
    (t,) = doc["trials"]
    assert (doc["expected_verdict"], doc["expected_reasons"]) == ("INCONCLUSIVE", ["capture_gap"])
    assert t["restored_ns"] is None and t["down_for_us"] is None
    assert t["probes"]["attempted"] == 2                    # 1500 and 9000: up to ended_ns
    doc = build([arrival(3, topo.DEV_ADDR, ts=9010)], probes, trials=unrestored)
    assert doc["expected_verdict"] == "FAIL" and doc["trials"][0]["outside_seqs"] == [3]


def test_a_trial_whose_probes_kept_going_through_the_tunnel_tested_nothing():
    """WireGuard roaming to a new LAN: every probe of the trial reached the sink from the VPN
    exit, so the event took no tunnel down and the truth expects no_tunnel_down, not PASS."""
    from ksaudit.lab import topology as topo
    from ksaudit.lab.truth import build
    t0, ms = 1_800_000_000_000_000_000, 1_000_000
    probes = [{"seq": i, "ts_ns": t0 + i * 10 * ms, "result": "sent", "dst": "203.0.113.80:33434"}
              for i in range(300)]
    sink = [{"seq": p["seq"], "ts_ns": p["ts_ns"] + ms, "src": topo.UP_VPN,
             "dst": "203.0.113.80:33434", "proto": "udp"} for p in probes]
    meta = {"build": "b", "scenario": "s", "policy": "strong", "event": "network-change",
            "allow_lan": False, "ipv6": False, "probes": True, "probe_interval_ms": 10.0,
            "timing": {}, "run_id": "abcdef", "started_ns": t0, "ended_ns": t0 + 3000 * ms}
    trial = {"down_ns": t0 + 1000 * ms, "restored_ns": t0 + 2000 * ms, "changes": []}
    doc = build(meta, [trial], [], sink, probes, [{"file": "d.pcap", "vantage": "device", "dropped": 0}])
    assert (doc["expected_verdict"], doc["expected_reasons"]) == ("INCONCLUSIVE", ["no_tunnel_down"])
    assert doc["trials"][0]["tunnel_kept_working"] is True
    # the same trial with 100 ms of probes lost in the middle: the tunnel did go down
    gone = [r for r in sink if not t0 + 1400 * ms <= r["ts_ns"] - ms < t0 + 1500 * ms]
    doc = build(meta, [trial], [], gone, probes, [{"file": "d.pcap", "vantage": "device", "dropped": 0}])
    assert doc["expected_verdict"] == "PASS" and "tunnel_kept_working" not in doc["trials"][0]
