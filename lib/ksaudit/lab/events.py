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


def _tunnel_back(client, why, firewall_why):
    """Tunnel up (fresh handshake, routes), then the firewall if the policy dropped it:
    the tunnel comes up before any firewall is re-engaged.  Returns restored_ns."""
    restored = client.tunnel_up(why)
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
    down = client.tunnel_down("network changed", "ip-config-unavailable")
    new = topo.DEV_ADDR_NEW if client.addr == topo.DEV_ADDR else topo.DEV_ADDR
    client.change_address(new)
    _sleep_ms(timing.down_ms - timing.settle_ms)
    return down, _reconnect(client, timing, "network changed")


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
}

# scenario.yaml's `scenario` field for each lab event (flapping has no name of its own)
SCENARIO_KIND = {"wifi-yank": "wifi-yank", "process-kill": "process-kill",
                 "sleep-wake": "sleep-wake", "network-change": "network-change",
                 "reconnect": "reconnect", "flapping": "custom"}

DESCRIPTIONS = {
    "wifi-yank": "wlan0 loses its access point for {down_ms} ms, then the tunnel is re-established",
    "process-kill": "the VPN process (wireguard-go) is killed with SIGKILL and restarted after {down_ms} ms",
    "sleep-wake": "suspend for {down_ms} ms (VPN process frozen, link down), then resume and reconnect",
    "network-change": "the device gets a new LAN address and the tunnel is re-established",
    "reconnect": "the client tears the tunnel down and re-establishes it ({reconnect_gap_ms} ms gap)",
    "flapping": "wlan0 flaps three times ({flap_ms} ms each) before the tunnel is re-established",
}
