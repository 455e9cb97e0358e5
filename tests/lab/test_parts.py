"""The lab's parts that need no root: rulesets, probe/sink wire format, journal lines,
tcpdump's drop report, CLI usage errors."""

import json
import os
import re
import subprocess
import sys

import pytest

from ksaudit import cli, lab
from ksaudit.errors import KsauditError
from ksaudit.lab import capture, events, firewall, journal, probe, runner, sink


def test_strong_ruleset_is_inet_default_deny_with_endpoint_only():
    text = firewall.ruleset("strong", "wgksc000001", allow_lan=False)
    assert text.startswith("table inet ksaudit_killswitch")
    assert "policy drop;" in text and 'oifname "wgksc000001" accept' in text
    assert "ip daddr 198.51.100.2 udp dport 51820 accept" in text
    assert "192.168.0.0/16" not in text


def test_ipv4_only_ruleset_leaves_ipv6_alone():
    text = firewall.ruleset("ipv4-only", "wgksc000001", allow_lan=False)
    assert text.startswith("table ip ksaudit_killswitch") and "icmpv6" not in text


def test_allow_lan_still_drops_dns_before_the_lan_accept():
    text = firewall.ruleset("strong", "wg0", allow_lan=True)
    assert text.index("udp dport { 53, 853 } drop") < text.index("192.168.0.0/16")
    assert firewall.ruleset("none", "wg0", allow_lan=True) is None


def test_probe_payload_and_dns_query_parse_back_in_the_sink():
    assert sink.parse_probe(b"KSAPROBE 412 1795587593463073150") == (412, 1795587593463073150)
    assert sink.parse_probe(b"KSAPROBE x 1") == (None, None)
    query = probe.dns_query(70001)
    assert sink.parse_dns_seq(query) == 70001
    reply = sink.nxdomain(query)
    assert reply[:2] == query[:2] and reply[3] & 0x0F == 3 and reply[2] & 0x80


@pytest.mark.parametrize("text,want", [
    ("203.0.113.80:33434", ("203.0.113.80", 33434)),
    ("[2001:db8:113::80]:33434", ("2001:db8:113::80", 33434)),
])
def test_parse_dst(text, want):
    assert probe.parse_dst(text)[1:] == want


def test_journal_lines_look_like_journalctl_json(tmp_path):
    j = journal.Journal(str(tmp_path / "j.json"), client_pid=4242)
    ts, mono = 1795587593463073150, 5_000_000_000
    j.nm_device(ts, mono, "wg0", "activated", "disconnected", "user-requested")
    j.suspend_entry(ts + 10**6, mono + 10**6)
    j.suspend_exit(ts + 10**9, mono + 10**9)
    j.client(ts + 2 * 10**9, mono + 2 * 10**9, "tunnel up (dev wg0)")
    j.close()
    recs = [json.loads(line) for line in open(tmp_path / "j.json")]
    assert all(isinstance(v, str) for r in recs for v in r.values())
    nm = recs[0]
    assert nm["MESSAGE"] == ("<info>  [1795587593.4630] device (wg0): state change: activated -> "
                             "disconnected (reason 'user-requested', sys-iface-state: 'managed')")
    assert nm["_SOURCE_REALTIME_TIMESTAMP"] == "1795587593463073"
    assert int(nm["__REALTIME_TIMESTAMP"]) >= int(nm["_SOURCE_REALTIME_TIMESTAMP"])
    entry, exit_ = recs[1], recs[2]
    assert entry["MESSAGE"] == "PM: suspend entry (deep)" and "_PID" not in entry
    assert exit_["_SOURCE_MONOTONIC_TIMESTAMP"] == entry["_SOURCE_MONOTONIC_TIMESTAMP"]  # frozen
    assert recs[3]["_PID"] == "4242" and recs[3]["SYSLOG_IDENTIFIER"] == "ksaudit-lab-client"


def test_tcpdump_drop_report_is_parsed():
    text = ("tcpdump: listening on any\n1234 packets captured\n1240 packets received by filter\n"
            "7 packets dropped by kernel\n")
    assert int(capture._DROPPED.search(text).group(1)) == 7
    assert capture._DROPPED.search("1 packet captured\n") is None


def test_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(KsauditError, match="trials"):
        runner._check(runner.RunOptions(event="reconnect", policy="strong", out=str(tmp_path / "x"),
                                        trials=0))
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "lab", "run", "--event", "teleport",
                           "--policy", "strong", "-o", str(tmp_path / "y")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "lab", "cleanup", "--run-id", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_not_root_is_a_clear_error(monkeypatch):
    from ksaudit.lab import topology
    monkeypatch.setattr(topology.os, "geteuid", lambda: 1000)
    with pytest.raises(KsauditError, match="needs root"):
        topology.check_can_run()


BAD_OPTIONS = [
    ({"trials": 0}, "--trials must be 1..20, got 0"),
    ({"trials": 21}, "--trials must be 1..20"),
    ({"probe_interval_ms": 0.5}, "--probe-interval-ms must be 1..1000"),
    ({"probe_interval_ms": float("nan")}, "--probe-interval-ms must be 1..1000"),
    ({"timing": events.Timing(down_ms=-1)}, "--down-ms must be 0..60000, got -1"),
    ({"timing": events.Timing(down_ms=10**8)}, "--down-ms must be 0..60000"),
    ({"steady_ms": -5}, "--steady-ms must be 0..60000"),
    ({"event": "network-change", "timing": events.Timing(down_ms=100, settle_ms=200)},
     "--settle-ms must not exceed --down-ms"),
    ({"event": "boot", "trials": 2}, "boot happens once per run (--trials 1), got 2"),
    ({"build": ""}, "build name '' must be"),
    ({"build": "a/b"}, "build name 'a/b' must be"),
    ({"build": "rc1\n"}, "build name 'rc1\\n' must be"),
]


@pytest.mark.parametrize("kw,message", BAD_OPTIONS, ids=[m.split()[0] + str(i) for i, (_, m) in enumerate(BAD_OPTIONS)])
def test_bad_run_options_are_refused_before_anything_is_made(tmp_path, kw, message):
    kw = {"event": "reconnect", "policy": "strong", "out": str(tmp_path / "b" / "s"), **kw}
    with pytest.raises(KsauditError, match=re.escape(message)):
        runner._check(runner.RunOptions(**kw))
    assert not (tmp_path / "b").exists()


def test_output_that_is_a_file_or_under_a_file_is_one_line_not_an_internal_error(tmp_path):
    (tmp_path / "f").write_text("evidence")
    for out, message in ((tmp_path / "f", "exists and is not a directory"),
                         (tmp_path / "f" / "s", "is not a writable directory")):
        proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "lab", "run", "--event", "reconnect",
                               "--policy", "strong", "-o", str(out)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and "internal error" not in proc.stderr
    assert (tmp_path / "f").read_text() == "evidence"


@pytest.mark.parametrize("event", lab.EVENTS)
@pytest.mark.parametrize("policy", lab.POLICIES)
def test_cli_passes_every_event_policy_and_flag_to_the_runner(monkeypatch, capsys, tmp_path, event, policy):
    seen = []

    def fake_run(opts):
        seen.append(opts)
        doc = {"policy": opts.policy, "event": opts.event, "trial_count": opts.trials,
               "trials": [{"leaked_probes": 2}] * opts.trials}
        return runner.RunResult(opts.out, "FAIL", doc)

    monkeypatch.setattr(runner, "run", fake_run)
    out = str(tmp_path / "b" / "s")
    assert cli.main(["lab", "run", "--event", event, "--policy", policy, "--allow-lan", "--ipv6",
                     "--probe-interval-ms", "25", "--trials", "3", "--build", "2026.9", "-o", out]) == 0
    (opts,) = seen
    assert (opts.event, opts.policy, opts.out, opts.build) == (event, policy, out, "2026.9")
    assert opts.allow_lan and opts.ipv6 and opts.probes
    assert (opts.probe_interval_ms, opts.trials) == (25.0, 3)
    assert f"{policy} / {event}, 3 trial(s), 6 probe(s)" in capsys.readouterr().out


@pytest.mark.parametrize("flag, promise", [([], True), (["--blocks-when-disconnected", "yes"], True),
                                           (["--blocks-when-disconnected", "no"], False)])
def test_cli_passes_the_disconnect_promise(monkeypatch, tmp_path, flag, promise):
    seen = []
    monkeypatch.setattr(runner, "run", lambda opts: seen.append(opts) or runner.RunResult(
        opts.out, "PASS", {"policy": opts.policy, "event": opts.event, "trial_count": 1,
                           "trials": [{"leaked_probes": 0}]}))
    assert cli.main(["lab", "run", "--event", "disconnect", "--policy", "none", *flag,
                     "-o", str(tmp_path / "b" / "s")]) == 0
    assert seen[0].blocks_when_disconnected is promise


def test_cli_refuses_a_promise_that_is_not_yes_or_no(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:       # argparse: usage and one error line, exit 2
        cli.main(["lab", "run", "--event", "disconnect", "--policy", "none",
                  "--blocks-when-disconnected", "maybe", "-o", str(tmp_path / "s")])
    assert exc.value.code == 2
    assert "--blocks-when-disconnected: invalid choice: 'maybe'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_cleanup_as_non_root_refuses_instead_of_claiming_removals(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["lab", "cleanup"]) == 2
    assert "needs root" in capsys.readouterr().err


def test_lab_tests_skip_with_the_reason_when_not_root(tmp_path):
    """What a developer without root sees: every lab run skipped, saying why."""
    (tmp_path / "as_non_root.py").write_text("import os\nos.geteuid = lambda: 1000\n")
    here = os.path.dirname(__file__)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "as_non_root", "-p", "no:cacheprovider",
                           "-q", "-rs", os.path.join(here, "test_lab_runs.py"),
                           os.path.join(here, "test_lab_signals.py")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "passed" not in proc.stdout.splitlines()[-1] and "skipped" in proc.stdout.splitlines()[-1]
    assert "lab tests need root (network namespaces, nftables, /dev/net/tun)" in proc.stdout


def test_leftovers_are_only_names_of_the_labs_exact_shape(tmp_path, monkeypatch):
    """`lab cleanup` deletes what it lists: a neighbour's /tmp/ksaudit-lab-matrix-* is not the lab's."""
    from ksaudit.lab import topology
    monkeypatch.setattr(topology.tempfile, "tempdir", str(tmp_path))
    for name in ("ksaudit-lab-matrix-gl7bf3bf", "ksaudit-lab-a1b2c3-k9x_2q", "ksaudit-lab-a1b2c3"):
        (tmp_path / name).mkdir()
    assert topology.leftovers()["workdirs"] == [str(tmp_path / "ksaudit-lab-a1b2c3-k9x_2q")]
    assert topology.leftovers("a1b2c4")["workdirs"] == []
    topology.cleanup_all("a1b2c3")
    assert sorted(os.listdir(tmp_path)) == ["ksaudit-lab-a1b2c3", "ksaudit-lab-matrix-gl7bf3bf"]
