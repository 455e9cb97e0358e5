"""Client files (``--client FILE``): the packaged wg-quick and openvpn examples load (the
openvpn one renders into a config openvpn itself parses), and every bad file is one line
naming the field at fault, before anything is made.  No root needed."""

import copy
import os
import stat
import subprocess

import pytest
import yaml

from ksaudit.cli import main
from ksaudit.errors import KsauditError
from ksaudit.lab import clients, runner, topology as topo
from ksaudit.lab.clients.base import Context
from ksaudit.lab.clients.filedriven import FileClient
from ksaudit.lab.clients.spec import load_spec, render

EXAMPLE = clients.NAMED_FILES["wg-quick"]
OPENVPN_EXAMPLE = os.path.join(clients.registry.EXAMPLES, "openvpn.yaml")


def example():
    with open(EXAMPLE) as fh:
        return yaml.safe_load(fh)


def write(tmp_path, doc, name="client.yaml"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return str(path)


def test_the_packaged_example_is_wg_quick():
    spec = load_spec(EXAMPLE, clients.SERVERS)
    assert spec["name"] == "wg-quick" and spec["server"] == "wireguard"
    assert spec["connect"] == ["wg-quick", "up", "{dir}/{interface}.conf"]
    assert [p["name"] for p in spec["processes"]] == ["wireguard-go"]
    assert {e["format"] for e in spec["logs"]} == {"wireguard-go", "wg-quick"}
    assert "PostUp = iptables -I OUTPUT ! -o %i" in spec["protection"]["placeholders"]["hooks"]


def test_the_openvpn_example_runs_openvpn_against_the_labs_server():
    spec = load_spec(OPENVPN_EXAMPLE, clients.SERVERS)
    assert spec["server"] == "openvpn" and spec["interface"] == "{interface}"
    assert spec["connect"][:3] == ["openvpn", "--config", "{dir}/client.conf"]
    assert {"--daemon", "--machine-readable-output"} <= set(spec["connect"])
    assert spec["processes"] == [{"name": "openvpn", "cmdline": spec["connect"]}]
    assert [(e["source"], e["file"], e["format"]) for e in spec["logs"]] == [
        ("path", "openvpn.log", "openvpn")]
    assert spec["protection"]["placeholders"] == {"persist": "persist-tun"}


@pytest.mark.parametrize("policy", ["none", "client"])
def test_the_openvpn_example_renders_a_config_openvpn_parses(tmp_path, policy):
    """The lab's placeholders become the run's PKI files (mode 0600), its server and the
    lab's tun name; openvpn reads the rendered file back (``--show-ciphers`` parses every
    option, then exits without connecting)."""
    names = topo.Names("0a1b2c")
    ctx = Context(names=names, procs=None, journal=None, policy=policy, allow_lan=False,
                  ipv6=False, workdir=str(tmp_path))
    client = FileClient(ctx, load_spec(OPENVPN_EXAMPLE, clients.SERVERS),
                        clients.SERVERS["openvpn"])
    assert client.ifname == "ovksc0a1b2c" and client.server.endpoint == ("198.51.100.2", 1194, "udp")
    conf = tmp_path / "client" / "client.conf"
    lines = conf.read_text().splitlines()
    assert "dev ovksc0a1b2c" in lines and "remote 198.51.100.2 1194" in lines
    assert "verify-x509-name ksaudit-lab-server name" in lines
    assert ("persist-tun" in lines) == (policy == "client")
    for key in ("ca", "cert", "key", "tls-crypt"):
        path = next(ln.split(" ", 1)[1] for ln in lines if ln.startswith(key + " "))
        assert os.path.dirname(path) == str(tmp_path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and os.path.getsize(path) > 100
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    parsed = subprocess.run(["openvpn", "--config", str(conf), "--show-ciphers"],
                            capture_output=True, text=True, timeout=20)
    assert parsed.returncode == 0, parsed.stdout[-300:]
    argv = [render(a, client.values) for a in client.spec["connect"]]
    assert argv[2] == str(conf) and argv[-1] == str(tmp_path / "client" / "openvpn.log")


def test_an_openvpn_file_with_a_wireguard_placeholder_is_one_line(tmp_path):
    with open(OPENVPN_EXAMPLE) as fh:
        doc = yaml.safe_load(fh)
    doc["files"]["client.conf"] += "peer-key {server_public_key}\n"
    with pytest.raises(KsauditError) as err:
        load_spec(write(tmp_path, doc), clients.SERVERS)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("lab: client file ")
    assert "field 'files['client.conf']': unknown placeholder {server_public_key}" in msg
    # the known ones: the lab's, server: openvpn's, and the protection's own
    assert msg.endswith("(known: ca, cert, dir, endpoint_host, endpoint_port, interface, key, "
                        "persist, proto, run_id, server_name, tls_crypt)")


def test_placeholders_render_and_leave_shell_syntax_alone():
    text = "PostUp = x $(wg show %i fwmark) ${HOME} {interface}"
    assert render(text, {"interface": "wgksc0a1b2c"}) == \
        "PostUp = x $(wg show %i fwmark) ${HOME} wgksc0a1b2c"


def _set(path, value):
    def edit(doc):
        *parents, last = path
        node = doc
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return edit


DELETE = object()
BAD = [
    # (what is changed, the field the message must name)
    (_set(["surprise"], 1), "surprise"),
    (_set(["server"], "ipsec"), "server"),
    (_set(["server"], DELETE), "server"),
    (_set(["connect"], "wg-quick up"), "connect"),
    (_set(["disconnect"], []), "disconnect"),
    (_set(["processes"], DELETE), "processes"),
    (_set(["processes", 0], {"name": "wireguard-go"}), "processes[0]"),
    (_set(["processes", 0, "cmdline"], [""]), "processes[0].cmdline"),
    (_set(["logs", 0, "source"], "syslog"), "logs[0].source"),
    (_set(["logs", 0, "format"], "no-such-format"), "logs[0].format"),
    (_set(["logs", 0, "file"], "journal.json"), "logs[0].file"),
    (_set(["logs", 0, "file"], "../escape.log"), "logs[0].file"),
    (_set(["logs", 1, "file"], "wireguard-go.log"), "logs[1].file"),
    (_set(["logs", 0, "journal"], "wireguard-go"), "logs[0]"),
    (_set(["logs", 0, "stamp"], "epoch"), "logs[0].stamp"),
    (_set(["logs", 0, "timezone"], "Mars/Olympus"), "logs[0].timezone"),
    (_set(["logs", 0, "colour"], "red"), "logs[0].colour"),
    (_set(["logs", 1, "source"], "stdout"), "logs"),
    (_set(["interface"], "wg0"), "interface"),
    (_set(["interface"], "{interface}-longer"), "interface"),
    (_set(["interface"], "{run_id}{dir}"), "interface"),
    (_set(["env", "LOG_LEVEL"], 3), "env"),
    (_set(["env", "A=B"], "x"), "env.A=B"),
    (_set(["env", ""], "x"), "env."),
    (_set(["env", "LOG_LEVEL"], "verbose\0"), "env"),
    (_set(["connect"], ["wg-quick", "up\0"]), "connect"),
    (_set(["processes", 0, "cmdline"], ["wireguard-go", "a\0"]), "processes[0].cmdline"),
    (_set(["files", "{interface}.conf"], "Endpoint = {endpoin}\n"), "files['{interface}.conf']"),
    (_set(["files", "../x.conf"], "x"), "files['../x.conf']"),
    (_set(["files", "{dir}x.conf"], "x"), "files['{dir}x.conf']"),
    (_set(["files", "{private_key}"], "x"), "files['{private_key}']"),
    (_set(["files", ""], "x"), "files['']"),
    (lambda d: (d["protection"]["placeholders"].update({"to": "../../etc/x"}),
                d["files"].update({"{to}": "x"})), "files['{to}']"),
    (_set(["connect"], ["wg-quick", "up", "{config}"]), "connect"),
    (_set(["protection"], "iptables"), "protection"),
    (_set(["protection", "placeholders", "hooks"], "{hooks}"), "protection.placeholders.hooks"),
    (_set(["timeout_s"], 0), "timeout_s"),
    (_set(["name"], "has space"), "name"),
]


@pytest.mark.parametrize("edit,field", BAD, ids=[f for _, f in BAD])
def test_every_bad_field_is_one_line_naming_it(tmp_path, edit, field):
    doc = copy.deepcopy(example())
    edit(doc)
    with pytest.raises(KsauditError) as err:
        load_spec(write(tmp_path, doc), clients.SERVERS)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("lab: client file ")
    assert f"field '{field}'" in msg


@pytest.mark.parametrize("text,words", [
    ("connect: [a\n  b: ]]", "not valid YAML at line"),
    ("- just\n- a list\n", "must be a mapping of fields"),
    (b"\xff\xfe\x00bad", "cannot read"),
])
def test_unreadable_files_are_one_line(tmp_path, text, words):
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(KsauditError, match=words) as err:
        load_spec(str(path), clients.SERVERS)
    assert "\n" not in str(err.value)


def test_names_paths_and_policies_are_checked(tmp_path):
    with pytest.raises(KsauditError, match="unknown client 'wg-quik'"):
        clients.check("wg-quik", "none")
    with pytest.raises(KsauditError, match="no such file"):
        clients.check(str(tmp_path / "missing.yaml"), "none")
    with pytest.raises(KsauditError, match="wireguard-go has none"):
        clients.check("wireguard-go", "client")
    doc = example()
    del doc["protection"]                 # and its placeholder
    doc["files"] = {k: v.replace("{hooks}\n", "") for k, v in doc["files"].items()}
    with pytest.raises(KsauditError, match="declares no 'protection'"):
        clients.check(write(tmp_path, doc), "client")
    clients.check(write(tmp_path, doc, "ok.yaml"), "strong")
    clients.check("wg-quick", "client")


def test_the_cli_refuses_a_bad_client_before_making_anything(tmp_path, capsys):
    doc = example()
    doc["processes"] = []
    bad = write(tmp_path, doc)
    out = tmp_path / "b" / "s"
    rc = main(["lab", "run", "--client", bad, "--event", "process-kill", "--policy", "none",
               "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("ksaudit: error: lab: client file ") and "field 'processes'" in err
    assert not os.path.exists(out.parent)


def test_the_foreign_rig_runs_the_harness_only(tmp_path):
    with pytest.raises(KsauditError, match="--rig foreign runs the wireguard-go harness only"):
        runner.run(runner.RunOptions(event="reconnect", policy="none", rig="foreign",
                                     client="wg-quick", out=str(tmp_path / "b" / "s")))


@pytest.mark.parametrize("argv,client", [([], "wireguard-go"), (["--client", "wg-quick"], "wg-quick"),
                                         (["--client", "./mine.yaml"], "./mine.yaml")])
def test_the_cli_passes_the_client_to_the_runner(monkeypatch, capsys, tmp_path, argv, client):
    seen = []
    monkeypatch.setattr(runner, "run", lambda opts: seen.append(opts) or runner.RunResult(
        opts.out, "PASS", {"policy": opts.policy, "event": opts.event, "trial_count": 1,
                           "trials": [{"leaked_probes": 0}]}))
    assert main(["lab", "run", "--event", "reconnect", "--policy", "strong", *argv,
                 "-o", str(tmp_path / "b" / "s")]) == 0
    assert seen[0].client == client
    printed = capsys.readouterr().out
    assert (f"client {client}, strong / reconnect" in printed) == (client != "wireguard-go")
