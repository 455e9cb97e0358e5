"""The bundled sample build: present, small, and each truth agrees with its sink record."""

import json
import os

import pytest
import yaml

from ksaudit.lab import samples, truth
from ksaudit.lab.clients import DEFAULT

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "captures", "samples", samples.BUILD)


def test_every_sample_is_there_with_its_intended_verdict():
    if not os.path.isdir(ROOT):
        pytest.fail(f"sample build missing: {ROOT} (regenerate: captures/samples/regenerate.sh)")
    assert sorted(os.listdir(ROOT)) == sorted(s.name for s in samples.SAMPLES)
    verdicts = set()
    for s in samples.SAMPLES:
        with open(os.path.join(ROOT, s.name, "lab-truth.json")) as fh:
            doc = json.load(fh)
        assert (doc["policy"], doc["event"], doc["expected_verdict"], doc.get("client", DEFAULT)) \
            == (s.policy, s.event, s.expect, s.flags.get("client", DEFAULT))
        with open(os.path.join(ROOT, s.name, "scenario.yaml")) as fh:
            assert yaml.safe_load(fh)["build"] == samples.BUILD
        verdicts.add(s.expect)
    assert verdicts == {"PASS", "FAIL", "INCONCLUSIVE"}
    with open(os.path.join(ROOT, "none-wifi-yank-lan-dns", "lab-truth.json")) as fh:
        lan = json.load(fh)["trials"][0]          # allow_lan: the printer is fine, LAN DNS is a leak
    assert lan["lan_seqs"] and lan["dns_lan_seqs"] and lan["leaked"]
    fail_policies = {s.policy for s in samples.SAMPLES if s.expect == "FAIL"}
    assert fail_policies >= {"none", "app-level", "weak-reconnect", "fail-open-sleep", "ipv4-only"}
    # the real clients: one FAIL, one PASS under its own protection (docs/lab.md "Sample build")
    real = {s.flags["client"]: s.expect for s in samples.SAMPLES if "client" in s.flags}
    assert real == {"openvpn": "FAIL", "wg-quick": "PASS"}
    with open(os.path.join(ROOT, "openvpn-none-process-kill", "scenario.yaml")) as fh:
        said = yaml.safe_load(fh)["description"]      # the process the client really runs
    assert said.startswith("the VPN process (openvpn) is killed") and "client openvpn" in said


def test_sample_build_stays_small():
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(ROOT) for f in files)
    assert total < 5 * 2**20


@pytest.mark.parametrize("name", [s.name for s in samples.SAMPLES])
def test_truth_is_the_sinks_record(name):
    """Re-derive the truth's leak seqs from the sink's own lines."""
    d = os.path.join(ROOT, name)
    with open(os.path.join(d, "lab-truth.json")) as fh:
        doc = json.load(fh)
    sink = truth.read_jsonl(os.path.join(d, "lab-sink.jsonl"))
    probes = truth.read_jsonl(os.path.join(d, "logs", "probes.jsonl"))
    trials = [{"down_ns": t["down_ns"], "restored_ns": t["restored_ns"], "changes": t["state_changes"]}
              for t in doc["trials"]]
    meta = {k: doc[k] for k in ("build", "scenario", "policy", "event", "allow_lan", "ipv6", "probes",
                                "probe_interval_ms", "timing", "run_id", "started_ns", "ended_ns")}
    meta["client"] = doc.get("client", DEFAULT)
    again = truth.build(meta, trials, doc["setup_changes"], sink, probes, doc["captures"])
    assert again == doc
    leaked = {seq for t in doc["trials"] for seq in t["outside_seqs"] + t["dns_lan_seqs"]}
    by_src = {r["seq"]: r["src"] for r in sink}
    assert all(by_src[seq] not in doc["vpn_exit_addresses"] for seq in leaked)


def test_regenerating_into_a_file_is_refused_before_any_run(tmp_path):
    from ksaudit.errors import KsauditError
    target = tmp_path / "2026.1-lab"
    target.write_text("not a build")
    with pytest.raises(KsauditError, match="exists and is not a directory"):
        samples.regenerate(str(target))
    assert target.read_text() == "not a build" and sorted(os.listdir(tmp_path)) == ["2026.1-lab"]


FOREIGN_ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "captures", "samples",
                            samples.FOREIGN_BUILD)


def test_foreign_rig_samples_are_there_small_and_their_truth_is_the_sinks_record():
    if not os.path.isdir(FOREIGN_ROOT):
        pytest.fail(f"sample build missing: {FOREIGN_ROOT} (regenerate: captures/samples/regenerate.sh)")
    assert sorted(os.listdir(FOREIGN_ROOT)) == sorted(s.name for s in samples.FOREIGN_SAMPLES)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(FOREIGN_ROOT) for f in files)
    assert total < 300 * 2**10
    for s in samples.FOREIGN_SAMPLES:
        d = os.path.join(FOREIGN_ROOT, s.name)
        with open(os.path.join(d, "lab-truth.json")) as fh:
            doc = json.load(fh)
        assert (doc["rig"], doc["policy"], doc["event"], doc["expected_verdict"]) == \
            ("foreign", s.policy, s.event, s.expect)
        with open(os.path.join(d, "scenario.yaml")) as fh:
            sc = yaml.safe_load(fh)
        assert sc["build"] == samples.FOREIGN_BUILD and {lg["format"] for lg in sc["logs"]} == {"auto"}
        meta = {k: doc[k] for k in ("build", "scenario", "policy", "event", "allow_lan", "ipv6", "probes",
                                    "probe_interval_ms", "timing", "run_id", "started_ns", "ended_ns",
                                    "rig", "teardown_changes")}
        trials = [{"down_ns": t["down_ns"], "restored_ns": t["restored_ns"], "changes": t["state_changes"]}
                  for t in doc["trials"]]
        again = truth.build(meta, trials, doc["setup_changes"],
                            truth.read_jsonl(os.path.join(d, "lab-sink.jsonl")),
                            truth.read_jsonl(os.path.join(d, "logs", "probes.jsonl")), doc["captures"])
        assert again == doc
