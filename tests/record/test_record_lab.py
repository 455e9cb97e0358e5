"""`ksaudit record` inside a lab namespace standing in for the host, judged by analyze
against what the lab's sink received."""

import glob
import os
import signal
import subprocess

import pytest
import yaml

import ksaudit
from ksaudit.lab import topology as topo
from ksaudit.lab.procs import wait_for

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
    rc, stdout, stderr = finish(lab_host.start_record(out, "--event-cmd", event))
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
    assert any("journal" in n for n in sc["notes"])          # journald does not run here
    want = outside_seqs(lab_host)
    assert want, "the routes went down without a kill switch: probes must have leaked"
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "FAIL", [(r.code, r.message) for r in a.verdict.reasons]
    assert leaked_seqs(a) == want
    # the recorder's own record of the event command, read back as a log
    ev = a.events[a.events["file"].astype(str).str.endswith("record.json")]
    assert ev["message"].str.contains("trial 1: event command started").any()
    assert ev["message"].str.contains(r"trial 1: event command ended \(exit status 0\)").any()
    cli = subprocess.run(["ksaudit", "analyze", str(out)], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1 and cli.stdout.startswith("routes-down: FAIL")
