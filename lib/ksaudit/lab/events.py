"""The events (the tests a kill-switch review runs), played against the client.

Each event function takes the Client and Timing, performs one tunnel-down episode and
returns ``(down_ns, restored_ns)``: the harness's times of the first state change that
took the tunnel down and of the tunnel's routes being back.  The policy decides what
the client does with its firewall at each step:

- ``none``: no firewall; when the tunnel's routes go, traffic follows DHCP's default route.
- ``app-level``: rules owned by the wireguard-go process; they die with it.
- ``weak-reconnect``: firewall released while the client reconnects (reconnect gap).
- ``fail-open-sleep``: firewall released before suspend, restored after the tunnel is up.
- ``ipv4-only``: an ``ip``-family table: IPv6 is never blocked.
- ``strong``: ``inet`` default deny, loaded before the test and never released.

``boot`` starts from a device whose network is not up yet (the runner starts the
captures and probes first); ``disconnect`` is the user's, and the scenario's
``vpn.blocks_when_disconnected`` says whether its leaks count (docs/events.md).
"""

import time
from dataclasses import dataclass

from ksaudit.lab import topology as topo
from ksaudit.lab.journal import now


@dataclass(frozen=True)
class Timing:
    """Event timing (ms): how long the cause lasts, the client's settle delay after the
    network returns, and the reconnect gap (weak-reconnect's firewall-off span)."""

    down_ms: int = 1000
    settle_ms: int = 300
    reconnect_gap_ms: int = 500
    flap_ms: int = 150


def _sleep_ms(ms):
    time.sleep(max(0, ms) / 1000)


def _reconnect(client, timing, why):
    """After the network is back: settle, (weak-reconnect: release), handshake, routes,
    (re-engage).  Returns restored_ns."""
    if client.policy == "weak-reconnect":
        client.release_firewall("reconnecting")
    _sleep_ms(timing.settle_ms)
    return _tunnel_back(client, why, "tunnel up again")


def _tunnel_back(client, why, firewall_why, connect=False):
    """Tunnel up (fresh handshake, routes; with ``connect`` the client is started first),
    then the firewall if the policy dropped it: the tunnel comes up before any firewall
    is re-engaged.  Returns restored_ns."""
    restored = client.connect(why) if connect else client.tunnel_up(why)
    if not client.firewall_on:
        client.engage_firewall(firewall_why)
    return restored


def process_kill(client, timing):
    down = client.kill_process()
    _sleep_ms(timing.down_ms)                 # the supervisor's restart delay
    client.start_process()
    return down, _tunnel_back(client, "client process restarted", "client process restarted")


def wifi_yank(client, timing):
    down = client.link_down()
    client.tunnel_down("network lost", "dependency-failed")
    _sleep_ms(timing.down_ms)
    client.link_up()
    return down, _reconnect(client, timing, "network back")


def sleep_wake(client, timing):
    ts, mono = now()
    client.journal.logind(ts, mono, "The system will suspend now!")
    if client.policy == "fail-open-sleep":
        client.release_firewall("suspending")
    down = client.tunnel_down("suspending", "sleeping")
    client.freeze_process(True)
    client.link_down("suspend")
    ts, mono = client.record("sleep", "suspend entry")
    client.journal.suspend_entry(ts, mono)
    _sleep_ms(timing.down_ms)
    ts, mono = client.record("wake", "suspend exit")
    client.journal.suspend_exit(ts, mono)
    client.journal.write(ts, mono, "systemd-sleep", "System returned from sleep state.", pid=4021)
    client.link_up()
    client.freeze_process(False)
    client.journal.client(*now(), "resumed from suspend; reconnecting")
    return down, _reconnect(client, timing, "resumed")


def network_change(client, timing):
    """The device moves to the other LAN (wlan0 -> eth0, the next trial back): it leaves
    the old link, the client takes the tunnel down, the new link comes up with its own
    DHCP lease and default route, and the client reconnects from there."""
    old = client.uplink
    new, addr = ("eth0", topo.DEV2_ADDR) if old == "wlan0" else ("wlan0", topo.DEV_ADDR)
    down = client.link_down("moved to another network", iface=old)
    client.tunnel_down("network changed", "ip-config-unavailable")
    client.link_up(addr, iface=new)
    _sleep_ms(timing.down_ms - timing.settle_ms)
    return down, _reconnect(client, timing, "network changed")


def boot(client, timing):
    """The device boots: the link comes up (carrier, a DHCP discover), DHCP's lease and
    default route are in, and only `down_ms` later (the user logs in) the client starts
    and connects.  Only a firewall loaded before the network (``strong``, by the runner)
    blocks that stretch; every other policy engages once the tunnel is up."""
    at = now()
    topo.ipn(client.ns, "link", "set", client.uplink, "up")
    client.record("link_carrier", f"{client.uplink} up, no address yet", at=at)
    topo.dhcp_discover(client.names, client.uplink)
    down = now()[0]                    # the lease and its routes: the network is up
    client.link_up()
    client.set_resolver(topo.LAN_RESOLVER)      # the lease's DNS server, until the tunnel's
    _sleep_ms(timing.down_ms)
    return down, _tunnel_back(client, "connected at login", "tunnel up", connect=True)


def disconnect(client, timing):
    """The user disconnects (the client stops; every policy but ``strong`` drops its
    firewall) and after `down_ms` connects again."""
    down = client.disconnect()
    _sleep_ms(timing.down_ms)
    return down, _tunnel_back(client, "user connected again", "connected", connect=True)


def reconnect(client, timing):
    if client.policy == "weak-reconnect":
        client.release_firewall("reconnecting")
    down = client.tunnel_down("reconnecting")
    _sleep_ms(timing.reconnect_gap_ms)
    return down, _tunnel_back(client, "reconnected", "tunnel up again")


def flapping(client, timing):
    """Three short drops of wlan0; the client waits for a stable link before reconnecting."""
    down = client.link_down()
    client.tunnel_down("network lost", "dependency-failed")
    for i in range(3):
        if i:
            client.link_down()
        _sleep_ms(timing.flap_ms)
        client.link_up()
        _sleep_ms(timing.flap_ms)
    return down, _reconnect(client, timing, "network stable again")


EVENTS = {
    "wifi-yank": wifi_yank,
    "process-kill": process_kill,
    "sleep-wake": sleep_wake,
    "network-change": network_change,
    "reconnect": reconnect,
    "flapping": flapping,
    "boot": boot,
    "disconnect": disconnect,
}
# events that happen once per run (--trials 1)
ONCE = ("boot",)
# least steady state before the first episode: the user's disconnect stops wireguard-go,
# whose 1 s "Device closing" line reports the start too, so its band reaches back a second
LEAD_IN_MS = {"disconnect": 1100}

# scenario.yaml's `scenario` field for each lab event (flapping has no name of its own)
SCENARIO_KIND = {"wifi-yank": "wifi-yank", "process-kill": "process-kill",
                 "sleep-wake": "sleep-wake", "network-change": "network-change",
                 "reconnect": "reconnect", "flapping": "custom", "boot": "boot",
                 "disconnect": "disconnect"}

# scenario.yaml's description: ``{process}`` is the client's VPN process (`Client.process_name`)
DESCRIPTIONS = {
    "wifi-yank": "wlan0 loses its access point for {down_ms} ms, then the tunnel is re-established",
    "process-kill": "the VPN process ({process}) is killed with SIGKILL and restarted after {down_ms} ms",
    "sleep-wake": "suspend for {down_ms} ms (VPN process frozen, link down), then resume and reconnect",
    "network-change": "the device moves from one LAN to another (wlan0 192.168.50.0/24 <-> eth0 "
                      "192.168.60.0/24) and the tunnel is re-established from the new one",
    "reconnect": "the client tears the tunnel down and re-establishes it ({reconnect_gap_ms} ms gap)",
    "flapping": "wlan0 flaps three times ({flap_ms} ms each) before the tunnel is re-established",
    "boot": "the device boots: link and DHCP route come up {down_ms} ms before the VPN client "
            "starts and connects",
    "disconnect": "the user disconnects the VPN for {down_ms} ms, then connects again",
}
