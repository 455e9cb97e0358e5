"""Lab namespaces, veth pairs, addresses and routes; removal and leftover cleanup.

Everything is created inside namespaces named ``ksaudit-lab-<run id>-<role>``; veth
pairs are created directly inside them, so no interface, route or firewall rule of
the host is ever touched.  Deleting a namespace deletes its veths.
"""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from ksaudit.errors import KsauditError

PREFIX = "ksaudit-lab-"
WG_SOCKET_DIR = "/var/run/wireguard"
WG_PREFIX = "wgks"          # + "c"/"s" + run id: client/server WireGuard interface names (11 chars)

# Documentation address plan (RFC 5737 / RFC 3849 / ULA).
LAN_NET, LAN_GW, DEV_ADDR = "192.168.50.0/24", "192.168.50.1", "192.168.50.10"
PRINTER_ADDR, PRINTER_PORT = "192.168.50.9", 9100
LAN_RESOLVER = LAN_GW
LAN6_GW, DEV6_ADDR = "fd00:50::1", "fd00:50::10"
# the second LAN (network-change: the device moves from wlan0's LAN to eth0's)
LAN2_NET, LAN2_GW, DEV2_ADDR = "192.168.60.0/24", "192.168.60.1", "192.168.60.10"
LAN2_6_GW, DEV2_6_ADDR = "fd00:60::1", "fd00:60::10"
SPAN_IF = "span0"      # router: the mirror port of both LANs (the second LAN's external capture)
# device uplink -> (router-side interface, IPv4 gateway, IPv6 gateway, device IPv6 address)
UPLINKS = {"wlan0": ("lan0", LAN_GW, LAN6_GW, DEV6_ADDR),
           "eth0": ("lan1", LAN2_GW, LAN2_6_GW, DEV2_6_ADDR)}
UP_RTR, UP_VPN = "198.51.100.1", "198.51.100.2"
UP6_RTR, UP6_VPN = "2001:db8:100::1", "2001:db8:100::2"
SINK_ADDR, SINK6_ADDR, SINK_PORT = "203.0.113.80", "2001:db8:113::80", 33434
TUNNEL_RESOLVER = "203.0.113.53"     # the VPN provider's resolver, reached through the tunnel
TUN_SRV, TUN_CLI = "10.64.0.1", "10.64.0.2"
TUN6_SRV, TUN6_CLI = "fd00:64::1", "fd00:64::2"
WG_PORT = 51820
VPN_EXITS = (UP_VPN, UP6_VPN)        # what the sink sees as source of tunnelled traffic
TUNNEL_ROUTES4 = ("0.0.0.0/1", "128.0.0.0/1")
TUNNEL_ROUTES6 = ("::/1", "8000::/1")

CMD_TIMEOUT_S = 10
PARTIAL_NOTE = "partial-output"      # in a run's work dir: its <out>.partial-<id> path


def sh(args, ns=None, check=True, timeout=CMD_TIMEOUT_S, input_text=None):
    """Run one command (inside namespace ``ns`` if given); return its stdout text."""
    argv = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input_text)
    except subprocess.TimeoutExpired:
        raise KsauditError(f"lab: command timed out after {timeout}s: {' '.join(argv)}")
    except FileNotFoundError:
        raise KsauditError(f"lab: command not found: {argv[0]} (install iproute2, nftables, "
                           "wireguard-tools, wireguard-go, tcpdump)")
    if check and proc.returncode != 0:
        raise KsauditError(f"lab: command failed ({proc.returncode}): {' '.join(argv)}: "
                           f"{proc.stderr.strip().splitlines()[-1:] or ''}")
    return proc.stdout


def ipn(ns, *args, check=True):
    """``ip -n ns ...``."""
    return sh(["ip", "-n", ns, *args], check=check)


@dataclass(frozen=True)
class Names:
    """All names of one lab run, derived from its run id."""

    run_id: str

    @property
    def dev(self):
        return f"{PREFIX}{self.run_id}-dev"

    @property
    def rtr(self):
        return f"{PREFIX}{self.run_id}-rtr"

    @property
    def vpn(self):
        return f"{PREFIX}{self.run_id}-vpn"

    @property
    def namespaces(self):
        return (self.dev, self.rtr, self.vpn)

    @property
    def wg_client(self):
        return f"{WG_PREFIX}c{self.run_id}"

    @property
    def wg_server(self):
        return f"{WG_PREFIX}s{self.run_id}"


def new_names():
    """A fresh run id (6 hex digits) and its names; WireGuard names stay <= 15 chars."""
    return Names(secrets.token_hex(3))


def check_can_run():
    """Raise KsauditError saying why the lab cannot run here (not root, no netns, no tools)."""
    if os.geteuid() != 0:
        raise KsauditError("lab: needs root (network namespaces, nftables, /dev/net/tun)")
    if not os.path.exists("/dev/net/tun"):
        raise KsauditError("lab: /dev/net/tun is missing (wireguard-go needs it)")
    for tool in ("ip", "nft", "wg", "wireguard-go", "tcpdump"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":") + ["/usr/sbin", "/sbin"]):
            raise KsauditError(f"lab: '{tool}' not found on PATH")


def create(names, ipv6=True, second_lan=False, uplink=True):
    """Create the three namespaces, the veths, addresses, routes, forwarding and NAT.

    Parameters: names (Names), ipv6 (bool, give the LAN and upstream IPv6 addresses),
    second_lan (bool: a second LAN, 192.168.60.0/24 (fd00:60::/64), between the device's
    ``eth0`` and the router's ``lan1``; eth0 stays down until the device moves there),
    uplink (bool: wlan0 up with its DHCP routes now; False for boot, where the network
    comes up later through `wlan_up`).
    Returns: None.  Raises KsauditError on any failing command (the caller cleans up).
    """
    for ns in names.namespaces:
        sh(["ip", "netns", "add", ns])
        ipn(ns, "link", "set", "lo", "up")
    dev, rtr, vpn = names.dev, names.rtr, names.vpn
    ipn(dev, "link", "add", "wlan0", "type", "veth", "peer", "name", "lan0", "netns", rtr)
    ipn(rtr, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", vpn)
    if second_lan:
        ipn(dev, "link", "add", "eth0", "type", "veth", "peer", "name", "lan1", "netns", rtr)
        ipn(rtr, "addr", "add", f"{LAN2_GW}/24", "dev", "lan1")
        if ipv6:
            ipn(rtr, "addr", "add", f"{LAN2_6_GW}/64", "dev", "lan1", "nodad")
        ipn(rtr, "link", "set", "lan1", "up")
        _span_port(rtr, ("lan0", "lan1"))
    for ns in (rtr, vpn):
        sh(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"], ns=ns)
    sh(["sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"], ns=dev)
    # router: LAN side, upstream side, and the "internet" host addresses on lo
    ipn(rtr, "addr", "add", f"{LAN_GW}/24", "dev", "lan0")
    ipn(rtr, "addr", "add", f"{PRINTER_ADDR}/32", "dev", "lan0")
    ipn(rtr, "addr", "add", f"{UP_RTR}/24", "dev", "up0")
    for addr in (f"{SINK_ADDR}/32", f"{TUNNEL_RESOLVER}/32"):
        ipn(rtr, "addr", "add", addr, "dev", "lo")
    ipn(vpn, "addr", "add", f"{UP_VPN}/24", "dev", "eth0")
    if ipv6:
        ipn(rtr, "addr", "add", f"{LAN6_GW}/64", "dev", "lan0", "nodad")
        ipn(rtr, "addr", "add", f"{UP6_RTR}/64", "dev", "up0", "nodad")
        ipn(rtr, "addr", "add", f"{SINK6_ADDR}/128", "dev", "lo")
        ipn(vpn, "addr", "add", f"{UP6_VPN}/64", "dev", "eth0", "nodad")
    for ns, ifname in ((rtr, "lan0"), (rtr, "up0"), (vpn, "eth0")):
        ipn(ns, "link", "set", ifname, "up")
    ipn(vpn, "route", "add", "default", "via", UP_RTR)
    if ipv6:
        ipn(vpn, "-6", "route", "add", "default", "via", UP6_RTR)
    # VPN server NAT: tunnelled traffic leaves with the server's upstream address
    sh(["nft", "-f", "-"], ns=vpn, input_text=(
        "table ip ksaudit_nat {\n chain post {\n  type nat hook postrouting priority 100\n"
        "  ip saddr 10.64.0.0/24 oifname \"eth0\" masquerade\n }\n}\n"
        "table ip6 ksaudit_nat {\n chain post {\n  type nat hook postrouting priority 100\n"
        "  ip6 saddr fd00:64::/64 oifname \"eth0\" masquerade\n }\n}\n"))
    if uplink:
        wlan_up(names, DEV_ADDR, ipv6)


def _span_port(rtr, lans):
    """A switch's mirror (SPAN) port: every frame in or out of the router's `lans` is
    copied (tc mirred) to SPAN_IF, where one external capture sees both LANs, as a device
    that moves from one to the other needs (a capture of the LAN it left stops covering
    the episode).  SPAN_IF and its veth peer take no part in the network: no addresses,
    no ARP, no IPv6, so the capture holds the LANs' frames only."""
    ipn(rtr, "link", "add", SPAN_IF, "type", "veth", "peer", "name", SPAN_IF[:-1] + "1")
    for ifname in (SPAN_IF, SPAN_IF[:-1] + "1"):
        sh(["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.disable_ipv6=1"], ns=rtr)
        ipn(rtr, "link", "set", ifname, "arp", "off", "up")
    for lan in lans:
        sh(["tc", "qdisc", "add", "dev", lan, "clsact"], ns=rtr)
        for hook in ("ingress", "egress"):
            sh(["tc", "filter", "add", "dev", lan, hook, "protocol", "all", "u32", "match", "u32",
                "0", "0", "action", "mirred", "egress", "mirror", "dev", SPAN_IF], ns=rtr)


def wlan_up(names, addr, ipv6, iface="wlan0", endpoint_route=True):
    """Bring the device's uplink ``iface`` (wlan0, or eth0 on the second LAN) up with
    ``addr``, the default route and, with ``endpoint_route``, the endpoint route via that
    LAN's gateway (what DHCP / NetworkManager would do on association; the endpoint
    route is the VPN client's control plane: one that adds its own gets none)."""
    dev = names.dev
    _, gw, gw6, addr6 = UPLINKS[iface]
    ipn(dev, "link", "set", iface, "up")
    ipn(dev, "addr", "replace", f"{addr}/24", "dev", iface)
    ipn(dev, "route", "replace", "default", "via", gw, "dev", iface)
    if endpoint_route:
        ipn(dev, "route", "replace", f"{UP_VPN}/32", "via", gw, "dev", iface)
    if ipv6:
        ipn(dev, "addr", "replace", f"{addr6}/64", "dev", iface, "nodad")
        ipn(dev, "-6", "route", "replace", "default", "via", gw6, "dev", iface)


def dhcp_discover(names, iface="wlan0"):
    """One DHCPDISCOVER broadcast from 0.0.0.0:68 out of ``iface`` (up, no address yet):
    the first frame a booting device sends on its link, before any route exists (link
    upkeep; every capture of the LAN sees it, which shows it was running by then)."""
    sh([sys.executable, "-c", _DISCOVER, iface], ns=names.dev)


# a minimal BOOTP request (RFC 2131): op 1, htype 1, hlen 6, xid, broadcast flag, the
# magic cookie and option 53 = DHCPDISCOVER
_DISCOVER = """import socket, struct, sys
msg = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, 0x6b736131, 0, 0x8000,
                  bytes(4), bytes(4), bytes(4), bytes(4), bytes.fromhex("02005e005310") + bytes(10),
                  bytes(64), bytes(128)) + bytes.fromhex("63825363") + bytes([53, 1, 1, 255])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())
s.bind(("0.0.0.0", 68))
s.sendto(msg, ("255.255.255.255", 67))
"""


def link_snapshot(ns):
    """``ip -j link`` of a namespace, parsed (list of dicts)."""
    return json.loads(ipn(ns, "-j", "link", "show") or "[]")


def ns_pids(ns):
    """PIDs of processes living in namespace ``ns``."""
    out = sh(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def _kill_pids(pids, deadline_s=3.0):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.monotonic() + deadline_s
    for pid in pids:
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)


def destroy(names):
    """Kill whatever still runs in the run's namespaces (by PID), delete them and the
    run's WireGuard sockets.  Never raises: it runs on failure paths."""
    for ns in names.namespaces:
        if os.path.exists(f"/var/run/netns/{ns}"):
            _kill_pids(ns_pids(ns))
            sh(["ip", "netns", "del", ns], check=False)
    for ifname in (names.wg_client, names.wg_server):
        try:
            os.unlink(os.path.join(WG_SOCKET_DIR, f"{ifname}.sock"))
        except FileNotFoundError:
            pass


def leftovers(run_id=None):
    """What lab runs (or only run ``run_id``) left behind: namespaces, WireGuard sockets and
    the runs' temporary work directories (keys, sink record), as a dict of lists.  Only
    names of the lab's exact shapes (``ksaudit-lab-<6 hex>-…``, ``wgks[cs]<6 hex>.sock``):
    a neighbour's ``/tmp/ksaudit-lab-matrix-…`` is not the lab's to delete."""
    rid = re.escape(run_id) if run_id else "[0-9a-f]{6}"
    nss = sorted(n for n in _listdir("/var/run/netns")
                 if re.fullmatch(f"{re.escape(PREFIX)}{rid}-(dev|rtr|vpn)", n))
    socks = sorted(s for s in _listdir(WG_SOCKET_DIR)
                   if re.fullmatch(f"{WG_PREFIX}[cs]{rid}\\.sock", s))
    tmp = tempfile.gettempdir()
    work = sorted(os.path.join(tmp, d) for d in _listdir(tmp)       # tempfile.mkdtemp(prefix=...)
                  if re.fullmatch(f"{re.escape(PREFIX)}{rid}-[a-z0-9_]+", d)
                  and os.path.isdir(os.path.join(tmp, d)))
    return {"namespaces": nss, "sockets": socks, "workdirs": work}


def _listdir(path):
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _read_partial_note(work):
    """The half-written scenario directory a killed run noted in its work dir, if any."""
    try:
        with open(os.path.join(work, PARTIAL_NOTE)) as fh:
            path = fh.read().strip()
    except OSError:
        return None
    run_id = os.path.basename(work)[len(PREFIX):].split("-")[0]
    ok = path.endswith(f".partial-{run_id}") and os.path.isdir(path)
    return path if ok else None


def cleanup_all(run_id=None):
    """Remove every lab namespace (killing its processes by PID) and lab WireGuard socket,
    or only those of run ``run_id``.

    Returns: the ``leftovers()`` dict found before cleaning.
    """
    found = leftovers(run_id)
    for ns in found["namespaces"]:
        _kill_pids(ns_pids(ns))
        sh(["ip", "netns", "del", ns], check=False)
    for sock in found["sockets"]:
        try:
            os.unlink(os.path.join(WG_SOCKET_DIR, sock))
        except FileNotFoundError:
            pass
    for work in found["workdirs"]:
        partial = _read_partial_note(work)
        if partial:
            found.setdefault("partial_outputs", []).append(partial)
            shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return found
