import pytest

from ksaudit import KsauditError, read_events
from ksaudit.oslogs import rules

T0 = 1_795_587_593_463_073


def _kinds(write, jline, lines, **kw):
    text = "".join(jline(T0 + i, msg, ident) for i, (ident, msg) in enumerate(lines))
    df = read_events(write("j.json", text), **kw)
    return list(zip(df["kind"], df["iface"]))


@pytest.mark.parametrize("ident,msg,kind,iface", [
    ("NetworkManager", "<info>  [1795587593.4631] device (wg0): state change: secondaries -> activated "
     "(reason 'none', sys-iface-state: 'managed')", "tunnel_up", "wg0"),
    ("NetworkManager", "<info>  [1795587593.4631] device (wlan0): state change: activated -> unavailable "
     "(reason 'carrier-changed', sys-iface-state: 'managed')", "link_down", "wlan0"),
    ("NetworkManager", "<info>  [1795587593.4631] device (tun0): state change: activated -> deactivating "
     "(reason 'user-requested')", "tunnel_down", "tun0"),
    ("NetworkManager", "<info>  [1795587593.4631] device (wg0): state change: disconnected -> prepare "
     "(reason 'none')", "other", ""),
    ("NetworkManager", "<info>  [1795587593.4631] manager: NetworkManager state is now CONNECTED_SITE",
     "network_change", ""),
    ("wg-quick", "[#] ip link add wg0 type wireguard", "other", "wg0"),
    ("wg-quick", "[#] ip -4 rule add table main suppress_prefixlength 0", "tunnel_up", ""),
    ("wg-quick", "[#] ip link delete dev wg0", "tunnel_down", "wg0"),
    ("openvpn", "Initialization Sequence Completed", "tunnel_up", ""),
    ("openvpn", "[server] Inactivity timeout (--ping-restart), restarting", "tunnel_down", ""),
    ("openvpn", "SIGTERM[hard,] received, process exiting", "process_exit", ""),
    ("openvpn", "SIGUSR1[soft,ping-restart] received, process restarting", "tunnel_down", ""),
    ("openvpn", "Restart pause, 5 second(s)", "tunnel_down", ""),
    ("openvpn", "OpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)] [LZO] [LZ4] [EPOLL] [PKCS11] "
     "[MH/PKTINFO] [AEAD] [DCO]", "process_start", ""),
    ("openvpn", "OpenVPN ROUTE6: OpenVPN needs a gateway parameter for a --route-ipv6 option",
     "other", ""),
    ("kernel", "e1000e 0000:00:19.0 eth0: NIC Link is Down", "link_down", "eth0"),
    ("kernel", "igb 0000:01:00.0 enp1s0: NIC Link is Up 1000 Mbps Full Duplex", "link_up", "enp1s0"),
    # igb and older e1000/e1000e name the device after their own "driver: " prefix
    ("kernel", "igb 0000:03:00.0 eth0: igb: eth1 NIC Link is Down", "link_down", "eth1"),
    ("kernel", "e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
     "link_up", "eth0"),
    ("kernel", "IPv6: ADDRCONF(NETDEV_CHANGE): wlan0: link becomes ready", "link_up", "wlan0"),
    ("kernel", "r8169 0000:02:00.0 enp2s0: Link is Down", "link_down", "enp2s0"),
    ("kernel", "wlan0: Connection to AP 02:00:5e:00:53:01 lost", "link_down", "wlan0"),
    ("systemd", "Reached target Sleep.", "sleep", ""),
    ("systemd", "Reached target sleep.target - Sleep.", "sleep", ""),
    ("kernel", "PM: suspend entry (deep)", "sleep", ""),
    ("systemd-sleep", "Entering sleep state 'suspend'...", "sleep", ""),
    ("kernel", "PM: suspend exit", "wake", ""),
    ("systemd-sleep", "System resumed.", "wake", ""),
    ("systemd-sleep", "System returned from sleep state.", "wake", ""),
    ("systemd", "Time has been changed", "clock_step", ""),
    ("kernel", "AirPort: Link Down on en0. Reason 8 (Disassociated because station leaving).",
     "link_down", "en0"),
    ("kernel", "AirPort: Link Up on en1", "link_up", "en1"),
    ("kernel", "Wake reason: EC.LidOpen (User)", "wake", ""),
    ("kernel", "System Sleep", "sleep", ""),
    ("configd", "network changed: v4(en0+:192.168.1.5) DNS* Proxy SMB", "network_change", ""),
    ("neagent", "NESMVPNSession[Primary Tunnel:x]: status changed to disconnecting", "tunnel_down", ""),
    ("neagent", "NESMVPNSession[Primary Tunnel:x]: status changed to connected", "tunnel_up", ""),
    ("Vpn", "setting state=DISCONNECTED, reason=agentDisconnect", "tunnel_down", ""),
    ("Vpn", "setting state=CONNECTED, reason=agentConnect", "tunnel_up", ""),
    ("ConnectivityService", "NetworkAgentInfo [VPN () - 104] EVENT_NETWORK_INFO_CHANGED, going from "
     "CONNECTED to DISCONNECTED", "tunnel_down", ""),
    ("ksaudit-lab-client", "tunnel down (wireguard-go exited: killed by signal 9)", "tunnel_down", ""),
    ("ksaudit-lab-client", "firewall engaged (default deny outside wgk1, IPv4+IPv6; start)",
     "firewall_block", ""),
    ("ksaudit-lab-client", "firewall released (owner process died)", "firewall_release", ""),
    ("other", "tunnel down (not the lab client)", "other", ""),
])
def test_shipped_rules(write, jline, ident, msg, kind, iface):
    assert _kinds(write, jline, [(ident, msg)]) == [(kind, iface)]


def test_user_rules_come_first_and_capture_iface(write, jline):
    user = [{"name": "acme-down", "kind": "tunnel_down", "identifier": "acme-vpn",
             "regex": r"kill switch engaged on (?P<iface>\w+)"},
            {"name": "acme-sleep-is-other", "kind": "other", "source": "journald-*",
             "regex": "PM: suspend entry"}]
    got = _kinds(write, jline, [("acme-vpn", "kill switch engaged on utun3"),
                                ("other", "kill switch engaged on utun3"),
                                ("kernel", "PM: suspend entry (deep)")], rules=user)
    assert got == [("tunnel_down", "utun3"), ("other", ""), ("other", "")]


def test_user_rule_with_python_only_syntax_still_works(write, jline):
    user = [{"name": "lookbehind", "kind": "tunnel_up", "regex": r"(?<=vpn )up on (?P<iface>\w+)"}]
    assert _kinds(write, jline, [("x", "vpn up on tun7")], rules=user) == [("tunnel_up", "tun7")]


def test_format_condition_excludes_other_formats(write, jline):
    user = [{"name": "only-openvpn", "kind": "tunnel_down", "format": "openvpn", "regex": "bye"}]
    assert _kinds(write, jline, [("x", "bye")], rules=user) == [("other", "")]


@pytest.mark.parametrize("rule,match", [
    ({"name": "x", "kind": "tunnel_gone", "regex": "a"}, "not one of"),
    ({"name": "x", "kind": "other", "regex": "a", "idnetifier": "x"}, "unknown rule key"),
    ({"name": "x", "kind": "other", "regex": "(unclosed"}, "bad regex"),
    ({"kind": "other", "regex": "a"}, "'name'"),
    ("just text", "must be a mapping"),
])
def test_bad_rules_are_errors(rule, match):
    with pytest.raises(KsauditError, match=match):
        rules.load_rules([rule])


def test_shipped_table_is_valid_and_named_uniquely():
    table = rules.shipped_rules()
    names = [r["name"] for r in table]
    assert len(names) == len(set(names)) > 40


def test_rules_file_errors_are_one_line(tmp_path):
    with pytest.raises(KsauditError, match="rules file .*cannot read: No such file"):
        rules.load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: x, kind: sleep\n")
    with pytest.raises(KsauditError, match=r"bad.yaml: line \d+ rules file is not valid YAML"):
        rules.load_rules(bad)


def test_a_rules_file_that_is_a_fifo_is_one_line_not_a_hang(tmp_path):
    import os
    from ksaudit.oslogs.rules import _read_rules_file
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)
    with pytest.raises(KsauditError, match="not a regular file"):
        _read_rules_file(fifo)
