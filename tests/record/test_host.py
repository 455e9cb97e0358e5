"""The device fields scenario.yaml gets from `ip -j` snapshots, on a real namespace: a
tun interface (what wireguard-go and OpenVPN make) is discovered as the tunnel, a
recreated tunnel keeps both ifindexes, a renamed link is noted, addresses of the tunnel
are not the device's own."""

from ksaudit.lab import topology as topo
from ksaudit.record import host


def snap(ns, when):
    return {"when": when, "links": host.ip_json("-n", ns, "-d", "link", "show"),
            "addrs": host.ip_json("-n", ns, "addr", "show")}


def test_tunnel_discovery_ifindex_and_addresses(netns):
    for args in (["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
                 ["tuntap", "add", "mode", "tun", "name", "tun0"],
                 ["addr", "add", "192.0.2.10/24", "dev", "veth0"],
                 ["addr", "add", "10.9.0.2/32", "dev", "tun0"],
                 ["link", "set", "veth0", "up"]):
        topo.ipn(netns, *args)
    first = snap(netns, "start")
    assert host.discover_tunnels(first["links"]) == ["tun0"]
    assert host.missing_links(["tun0", "wg0"], first["links"]) == ["wg0"]
    # the client restarts (a new tun0, a new index) and the LAN link is renamed
    topo.ipn(netns, "tuntap", "del", "mode", "tun", "name", "tun0")
    topo.ipn(netns, "tuntap", "add", "mode", "tun", "name", "tun0")
    topo.ipn(netns, "link", "set", "veth0", "down")
    topo.ipn(netns, "link", "set", "veth0", "name", "eth9")
    second = snap(netns, "end")
    ifindex, notes = host.ifindex([first, second])
    assert list(ifindex.values()).count("tun0") == 2 and ifindex[1] == "lo"
    (old,) = [i for i, n in ifindex.items() if n == "eth9"]
    assert notes == [f"ifindex {old} was veth0 and then eth9 (end)"]
    assert host.physical_interfaces([first, second], ["tun0"]) == ["eth9", "veth0", "veth1"]
    assert host.device_addresses([first, second], ["tun0"]) == ["192.0.2.10"]
