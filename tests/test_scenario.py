"""scenario.yaml loading: defaults, unknown fields, wrong types, paths inside the directory."""

import pytest
import yaml

from ksaudit.align.clocks import ClockModel
from ksaudit.errors import KsauditError
from ksaudit.scenario import load_scenario

MINIMAL = {"build": "2026.11.0", "vpn": {"endpoints": ["198.51.100.2:51820/udp"]},
           "captures": [{"file": "device.pcapng"}]}


def write(tmp_path, doc, raw=None):
    d = tmp_path / "scn"
    d.mkdir(exist_ok=True)
    (d / "scenario.yaml").write_text(raw if raw is not None else yaml.safe_dump(doc))
    return d


def test_defaults_filled_in(tmp_path):
    sc = load_scenario(write(tmp_path, MINIMAL))
    assert sc.build == "2026.11.0" and sc.platform == "linux" and sc.scenario == "custom"
    assert sc.tunnel_interfaces == ("wg0",) and sc.physical_interfaces == ("wlan0",)
    assert sc.addresses == () and sc.ifindex == {}
    assert not sc.allow_lan and sc.allow == () and sc.tolerance_us == 1000
    cap = sc.captures[0]
    assert (cap.vantage, cap.clock, cap.dropped) == ("device", "device", None)
    ep = sc.endpoints[0]
    assert (str(ep.network), ep.port, ep.proto) == ("198.51.100.2/32", 51820, 17)
    assert sc.logs == () and sc.clocks == {} and sc.rules == ()
    assert sc.processes is None and sc.to_dict()["vpn"]["processes"] is None


def test_full_document(tmp_path):
    doc = dict(MINIMAL, platform="macos", scenario="sleep-wake", description="d",
               device={"tunnel_interfaces": ["utun3"], "physical_interfaces": ["en0"],
                       "addresses": ["192.168.50.2", "fd00:50::2"], "ifindex": {2: "en0"}},
               policy={"allow_lan": True, "allow": ["udp/5353", "203.0.113.53/32",
                                                    "[fd00::1]:53/udp", "icmp"],
                       "tolerance_us": 250},
               logs=[{"file": "logs/j.json", "format": "journald-json", "timezone": "UTC"}],
               clocks={"device": {"offset_ns": -5}},
               rules=[{"name": "x", "kind": "tunnel_down", "regex": "boom"}])
    sc = load_scenario(write(tmp_path, doc))
    assert sc.allow_lan and sc.tolerance_us == 250 and sc.ifindex == {2: "en0"}
    assert [a.text for a in sc.allow] == doc["policy"]["allow"]
    assert sc.allow[0].port == 5353 and sc.allow[0].network is None
    assert sc.allow[3].proto == 1 and sc.allow[3].port is None
    assert sc.clocks == {"device": ClockModel(offset_ns=-5, skew_ppm=0.0, uncertainty_ns=0)}
    assert len(sc.rules) == 1
    d = sc.to_dict()
    assert d["name"] == "scn" and "/" not in d["name"]


def test_vpn_processes(tmp_path):
    doc = dict(MINIMAL, vpn=dict(MINIMAL["vpn"], processes=["wireguard-go", "Mullvad VPN",
                                                            "mullvad-daemon.service"]))
    sc = load_scenario(write(tmp_path, doc))
    assert sc.processes == ("wireguard-go", "Mullvad VPN", "mullvad-daemon.service")
    assert sc.to_dict()["vpn"] == {"endpoints": ["198.51.100.2:51820/udp"],
                                   "processes": list(sc.processes),
                                   "blocks_when_disconnected": None}


@pytest.mark.parametrize("given, expected", [(True, True), (False, False), (None, None)])
def test_vpn_blocks_when_disconnected(tmp_path, given, expected):
    vpn = dict(MINIMAL["vpn"], **({} if given is None else {"blocks_when_disconnected": given}))
    sc = load_scenario(write(tmp_path, dict(MINIMAL, scenario="disconnect", vpn=vpn)))
    assert sc.scenario == "disconnect" and sc.blocks_when_disconnected is expected
    assert sc.to_dict()["vpn"]["blocks_when_disconnected"] is expected


def test_vpn_blocks_when_disconnected_must_be_a_boolean(tmp_path):
    vpn = dict(MINIMAL["vpn"], blocks_when_disconnected="no")
    with pytest.raises(KsauditError, match="vpn.blocks_when_disconnected: must be true or false"):
        load_scenario(write(tmp_path, dict(MINIMAL, vpn=vpn)))


@pytest.mark.parametrize("doc, field", [
    (dict(MINIMAL, buld="x"), "buld"),
    (dict(MINIMAL, policy={"allow_lan": True, "alow": []}), "alow"),
    (dict(MINIMAL, device={"adresses": []}), "adresses"),
    (dict(MINIMAL, captures=[{"file": "a.pcap", "vantge": "device"}]), "vantge"),
    (dict(MINIMAL, clocks={"device": {"ofset_ns": 1}}), "ofset_ns"),
])
def test_unknown_fields_name_the_field(tmp_path, doc, field):
    with pytest.raises(KsauditError, match=field):
        load_scenario(write(tmp_path, doc))


@pytest.mark.parametrize("doc, where", [
    ({k: v for k, v in MINIMAL.items() if k != "build"}, "build"),
    (dict(MINIMAL, build=2026.1), "build"),
    (dict(MINIMAL, platform="beos"), "platform"),
    (dict(MINIMAL, policy={"allow_lan": "yes"}), "policy.allow_lan"),
    (dict(MINIMAL, policy={"tolerance_us": 1.5}), "policy.tolerance_us"),
    (dict(MINIMAL, policy={"tolerance_us": -1}), "policy.tolerance_us"),
    (dict(MINIMAL, policy={"allow": ["udp/99999"]}), r"policy.allow\[0\]"),
    (dict(MINIMAL, policy={"allow": ["bogus rule"]}), r"policy.allow\[0\]"),
    (dict(MINIMAL, policy={"allow": "udp/53"}), "policy.allow"),
    (dict(MINIMAL, vpn={"endpoints": []}), "vpn.endpoints"),
    (dict(MINIMAL, vpn={"endpoints": ["198.51.100.2"]}), r"vpn.endpoints\[0\]"),
    (dict(MINIMAL, vpn=dict(MINIMAL["vpn"], processes="openvpn")), "vpn.processes: "),
    (dict(MINIMAL, vpn=dict(MINIMAL["vpn"], processes=[])), "vpn.processes: "),
    (dict(MINIMAL, vpn=dict(MINIMAL["vpn"], processes=None)), "vpn.processes: "),
    (dict(MINIMAL, vpn=dict(MINIMAL["vpn"], processes=["openvpn", ""])), r"vpn.processes\[1\]"),
    (dict(MINIMAL, vpn=dict(MINIMAL["vpn"], processes=[{"name": "x"}])),
     r"vpn.processes\[0\]"),
    (dict(MINIMAL, vpn=dict(MINIMAL["vpn"], procceses=["openvpn"])), "procceses"),
    (dict(MINIMAL, device={"addresses": ["not-an-ip"]}), r"device.addresses\[0\]"),
    (dict(MINIMAL, device={"tunnel_interfaces": "wg0"}), "device.tunnel_interfaces"),
    (dict(MINIMAL, captures=[]), "captures"),
    (dict(MINIMAL, captures=[{"file": "a.pcap", "vantage": "router"}]), r"captures\[0\].vantage"),
    (dict(MINIMAL, captures=[{"file": "a.pcap", "dropped": "many"}]), r"captures\[0\].dropped"),
    (dict(MINIMAL, logs=[{"format": "auto"}]), r"logs\[0\]"),
    (dict(MINIMAL, rules=["x"]), r"rules\[0\]"),
])
def test_wrong_types_name_the_field(tmp_path, doc, where):
    with pytest.raises(KsauditError, match=where):
        load_scenario(write(tmp_path, doc))


@pytest.mark.parametrize("path", ["../outside.pcap", "/etc/passwd", "logs/../../x.pcap", ".",
                                  "logs/..", "a\0b.pcap", "x" * 300, "C:\\x.pcap"])
def test_paths_must_stay_inside(tmp_path, path):
    with pytest.raises(KsauditError, match="captures\\[0\\].file"):
        load_scenario(write(tmp_path, dict(MINIMAL, captures=[{"file": path}])))


def test_symlink_leaving_the_directory_is_refused(tmp_path):
    d = write(tmp_path, dict(MINIMAL, captures=[{"file": "link.pcap"}]))
    (tmp_path / "elsewhere.pcap").write_bytes(b"")
    (d / "link.pcap").symlink_to(tmp_path / "elsewhere.pcap")
    with pytest.raises(KsauditError, match="leaves the scenario directory"):
        load_scenario(d)


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(KsauditError, match=r"scenario.yaml:\d+: not valid YAML"):
        load_scenario(write(tmp_path, None, raw="build: [unclosed\n"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KsauditError, match="missing"):
        load_scenario(empty)
    with pytest.raises(KsauditError, match="must be a mapping"):
        load_scenario(write(tmp_path, None, raw="- a list\n"))


from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 20, 10 ** 20),
                     st.floats(allow_nan=True), st.text(max_size=12))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8) | st.integers(), inner,
                                                 max_size=3)), max_leaves=6)
_PATHS = [("build",), ("platform",), ("device",), ("device", "ifindex"), ("device", "addresses"),
          ("vpn", "endpoints"), ("vpn", "processes"), ("policy",), ("policy", "allow"), ("policy", "tolerance_us"),
          ("captures",), ("logs",), ("clocks",), ("clocks", "device"), ("rules",),
          ("description",), ("unknown",)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_PATHS), _VALUES)
@example(("device", "ifindex"), {"\u00b2": None})          # a digit int() refuses
@example(("vpn", "endpoints"), ["1.2.3.4:51820/udp\n"])     # a trailing newline
def test_any_value_anywhere_is_loaded_or_refused_cleanly(tmp_path, path, value):
    doc = yaml.safe_load(yaml.safe_dump(MINIMAL))
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return
    try:
        load_scenario(write(tmp_path, None, raw=text))
    except KsauditError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("doc, where", [
    (dict(MINIMAL, captures=[{"file": "a.pcap"}, {"file": "./a.pcap", "vantage": "external"}]),
     r"captures\[1\].file: './a.pcap' is already declared as captures\[0\].file"),
    (dict(MINIMAL, logs=[{"file": "logs/j.json"}, {"file": "logs/j.json"}]),
     r"logs\[1\].file: 'logs/j.json' is already declared as logs\[0\].file"),
    (dict(MINIMAL, logs=[{"file": "device.pcapng"}]), r"logs\[0\].file: .* captures\[0\].file"),
])
def test_a_file_declared_twice_is_refused(tmp_path, doc, where):
    with pytest.raises(KsauditError, match=where):
        load_scenario(write(tmp_path, doc))


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    raw = ('build: "x"\nvpn: {endpoints: ["198.51.100.2:51820/udp"]}\npolicy:\n'
           '  allow_lan: false\n  allow_lan: true\ncaptures: [{file: a.pcap}]\n')
    with pytest.raises(KsauditError, match=r"scenario.yaml:5: .*'allow_lan' given twice"):
        load_scenario(write(tmp_path, None, raw=raw))
    raw = ('build: "x"\nvpn: {endpoints: ["198.51.100.2:51820/udp"]}\n'
           'captures: [&c {file: a.pcap, vantage: device}, {<<: *c, file: b.pcap}]\n')
    sc = load_scenario(write(tmp_path, None, raw=raw))
    assert [c.file for c in sc.captures] == ["a.pcap", "b.pcap"]


# ---------------------------------------------------------------- loading (issue 10)

def _no_hang(seconds=20):
    import signal

    def alarm(signum, frame):
        raise TimeoutError(f"load_scenario blocked for {seconds} s")
    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)


def test_scenario_yaml_that_is_a_directory_or_fifo_is_one_line(tmp_path):
    import os
    import signal

    d = tmp_path / "scn"
    (d / "scenario.yaml").mkdir(parents=True)
    with pytest.raises(KsauditError, match=r"scenario.yaml: a directory, not a regular file$"):
        load_scenario(d)
    (d / "scenario.yaml").rmdir()
    os.mkfifo(d / "scenario.yaml")
    try:
        _no_hang()
        with pytest.raises(KsauditError, match=r"scenario.yaml: a FIFO, not a regular file$"):
            load_scenario(d)
    finally:
        signal.alarm(0)


@pytest.mark.parametrize("raw, message", [
    (b"build: \xff\n", r"scenario.yaml: not valid YAML \(unacceptable character #x00ff"),
    (b"build: a\x00\n", r"scenario.yaml: not valid YAML \(unacceptable character #x0000"),
    (b"build: " + b"[" * 5000 + b"]" * 5000 + b"\n", r"scenario.yaml: not valid YAML \(nested too deeply\)"),
    (b"build: " + b"{a: " * 5000 + b"1" + b"}" * 5000 + b"\n", r"not valid YAML \(nested too deeply\)"),
])
def test_yaml_errors_are_one_line(tmp_path, raw, message):
    d = tmp_path / "scn"
    d.mkdir()
    (d / "scenario.yaml").write_bytes(raw)
    with pytest.raises(KsauditError, match=message) as info:
        load_scenario(d)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", [2 ** 63, -(2 ** 63) - 1, 2 ** 70])
def test_an_offset_outside_int64_is_one_line(tmp_path, value):
    doc = dict(MINIMAL, clocks={"device": {"offset_ns": value}})
    with pytest.raises(KsauditError, match=r"clocks.device.offset_ns: .*out of range") as info:
        load_scenario(write(tmp_path, doc))
    assert "\n" not in str(info.value)


def test_a_directory_path_that_is_not_utf8_is_one_line(tmp_path):
    # a name from another encoding (here Latin-1 'é') reached the UTF-8 tables of the
    # analysis: 'internal error: UnicodeEncodeError' instead of saying what is wrong
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    samples = Path(__file__).resolve().parent.parent / "captures/samples/2026.11.0-lab"
    sample = samples / "strong-process-kill"
    root = os.path.join(os.fsencode(tmp_path), b"caf\xe9")
    shutil.copytree(os.fsencode(sample), root)
    with pytest.raises(KsauditError, match="not valid UTF-8"):
        load_scenario(os.fsdecode(root))
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "analyze", os.fsdecode(root)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "not valid UTF-8" in proc.stderr and "internal error" not in proc.stderr
