"""What every lab VPN client gives the runner and the events, and the primitives they share.

A client owns its VPN server (one per protocol, in the vpn namespace), connects from
the device namespace, and reports every state change with the harness's own ns time
(``changes``), which the truth uses.  Time stamps are conservative: a change that can
open a leak (tunnel down, firewall released, link down, kill) is stamped just before
the command that makes it; one that closes a leak (tunnel up, firewall engaged) just
after it is done or, for a real client, after it is observed.

The firewall (ksaudit's nftables kill switch of the lab policies), the physical link
and the resolver the probe generator reads are the device's, not the client's: they
live here, shared by every client.
"""

import os
import subprocess
from dataclasses import dataclass

from ksaudit.errors import KsauditError
from ksaudit.lab import firewall, topology as topo, wireguard as wg
from ksaudit.lab.journal import now


class TunnelNotBack(KsauditError):
    """A real client's tunnel was not observed working again within its bound: during an
    episode a finding about the client (the runner ends the trial unrestored), at the
    first connect a one-line error like any other."""


@dataclass
class Context:
    """What the runner hands a client: the run's names, process registry and journal,
    and the run's options the client acts on."""

    names: topo.Names
    procs: object
    journal: object
    policy: str
    allow_lan: bool
    ipv6: bool
    workdir: str
    detached: bool = False        # the foreign rig: `wireguard-go IF` without -f
    tz: str = "UTC"


class WireGuardServer:
    """The WireGuard server (wireguard-go) in the vpn namespace, the client's key pair and
    addresses, and how the device side sees that a tunnel to it works."""

    protocol = "wireguard"
    endpoint = firewall.WG_ENDPOINT
    PLACEHOLDERS = ("private_key", "public_key", "server_public_key", "endpoint", "endpoint_host",
                    "endpoint_port", "address4", "address6")

    def __init__(self, ctx):
        self.ctx = ctx
        self.ifname = ctx.names.wg_server
        self.client_ifname = self.client_ifname_of(ctx.names)
        self.priv, self.public_key = wg.genkeys()
        self.client_priv, self.client_pub = wg.genkeys()
        self._log = None

    @staticmethod
    def client_ifname_of(names):
        """The client's interface name in run ``names`` (its socket name carries the run id)."""
        return names.wg_client

    def forget_client(self, ifname):
        """The control socket a killed client daemon left behind (sockets are global)."""
        wg.unlink_socket(ifname)

    def placeholders(self):
        """What a client file's ``{name}``s become (PLACEHOLDERS)."""
        host, port, _ = self.endpoint
        return {"private_key": self.client_priv, "public_key": self.client_pub,
                "server_public_key": self.public_key, "endpoint": f"{host}:{port}",
                "endpoint_host": host, "endpoint_port": str(port),
                "address4": f"{topo.TUN_CLI}/32", "address6": f"{topo.TUN6_CLI}/128"}

    def start(self):
        """Start the server with the client's key as its only peer (bounded waits)."""
        self._log = open(os.path.join(self.ctx.workdir, "wg-server.log"), "ab")
        wg.start_daemon(self.ctx.procs, "wg-server", self.ctx.names.vpn, self.ifname, self._log)
        wg.configure_server(self.ctx.names.vpn, self.ifname, self.priv, self.client_pub,
                            self.ctx.workdir)

    def close(self):
        if self._log:
            self._log.close()

    def observed_up(self, ns, ifname):
        """True once the device's interface ``ifname`` has completed a handshake."""
        return wg.latest_handshake(ns, ifname) > 0


def copy_prefix(src, dst):
    """Copy ``src`` to ``dst`` up to its last complete line (a log still being written)."""
    with open(src, "rb") as fh:
        data = fh.read()
    with open(dst, "wb") as fh:
        fh.write(data[:data.rfind(b"\n") + 1])


def log_entry(file, fmt, timezone="UTC"):
    """A scenario.yaml ``logs:`` entry on the device clock."""
    entry = {"file": file, "format": fmt, "clock": "device"}
    if timezone:
        entry["timezone"] = timezone
    return entry


class Client:
    """State and shared primitives of the device's VPN client for one run.

    Subclasses give ``start_server``, ``start_process``, ``tunnel_up``, ``tunnel_down``,
    ``kill_process``, ``freeze_process``, ``disconnect`` and ``collect_logs`` (docs/lab.md
    "Clients"); ``ifname`` is the tunnel interface, ``server`` the VPN server object."""

    name = None                     # --client NAME
    supports_client_policy = False  # --policy client: the client has protection of its own
    protection = None               # one line: what that protection is
    processes = None                # scenario.yaml vpn.processes (None: the default)
    lead_in_ms = 0                  # least steady state before the first episode
    # a link coming up gets a host route to the VPN server via its gateway (the harness's
    # control plane does that); False for a client that adds its own when it connects
    endpoint_route = True

    def __init__(self, ctx, server, ifname):
        self.ctx, self.server, self.ifname = ctx, server, ifname
        self.names, self.procs, self.journal = ctx.names, ctx.procs, ctx.journal
        self.policy, self.allow_lan, self.ipv6 = ctx.policy, ctx.allow_lan, ctx.ipv6
        self.workdir = ctx.workdir
        self.ns = ctx.names.dev
        self.changes = []              # [{"ts_ns", "change", "detail"}]
        self.ifindex = {}              # every ifindex seen in the device namespace
        self.firewall_on = False
        self.tunnel_is_up = False
        self.resolver_file = os.path.join(ctx.workdir, "resolver")
        self.addr = topo.DEV_ADDR
        self.uplink = "wlan0"          # the physical interface the device is online through

    # --- what scenario.yaml says about the client ------------------------------------
    @property
    def endpoint_spec(self):
        addr, port, proto = self.server.endpoint
        return f"{addr}:{port}/{proto}"

    @property
    def process_name(self):
        """The VPN process a reader knows: the first of ``processes``, else the client's name."""
        return self.processes[0] if self.processes else self.name

    def connect(self, why="connected"):
        """Start the client and bring the tunnel up; returns the tunnel-up ns time."""
        self.start_process()
        return self.tunnel_up(why)

    def close(self):
        """Release the client's and its server's files (the processes are the runner's)."""
        self.server.close()

    # --- bookkeeping -------------------------------------------------------------------
    def record(self, change, detail="", at=None):
        ts_ns, mono_ns = at or now()
        self.changes.append({"ts_ns": ts_ns, "change": change, "detail": detail})
        return ts_ns, mono_ns

    def snapshot_links(self):
        links = topo.link_snapshot(self.ns)
        for link in links:
            self.ifindex[int(link["ifindex"])] = link["ifname"]
        return links

    def set_resolver(self, addr):
        """The system resolver the probe generator's DNS queries go to."""
        tmp = self.resolver_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(addr + "\n")
        os.replace(tmp, self.resolver_file)

    # --- firewall ----------------------------------------------------------------------
    def owner_started(self):
        """``app-level``: the app's own rules come with its process."""
        if self.policy == "app-level":
            self.engage_firewall("client process started")

    def owner_died(self):
        """``app-level``: rules owned by the process die with it."""
        if self.policy == "app-level":
            released = now()
            firewall.release(self.ns, self.policy)
            self.firewall_on = False
            self.record("firewall_released", "owner process died", at=released)

    def killed(self, unit, what):
        """What follows a SIGKILL once the process is gone: systemd's and the client's
        journal lines, and the LAN's resolver back (``what`` names the death)."""
        self.tunnel_is_up = False
        ts, mono = now()
        self.journal.systemd(ts, mono, f"{unit}: Main process exited, code=killed, status=9/KILL")
        self.journal.client(ts, mono, f"tunnel down ({what}; dev {self.ifname})", 3)
        self.set_resolver(topo.LAN_RESOLVER)

    def engage_firewall(self, why):
        if firewall.engage(self.ns, self.policy, self.ifname, self.allow_lan, self.server.endpoint):
            self.firewall_on = True
            at = self.record("firewall_engaged", why)
            family = "IPv4 only" if self.policy == "ipv4-only" else "IPv4+IPv6"
            lan = ", LAN allowed" if self.allow_lan else ""
            self.journal.client(*at, f"firewall engaged (default deny outside {self.ifname}, "
                                     f"{family}{lan}; {why})")

    def release_firewall(self, why):
        if self.firewall_on:
            at = now()
            firewall.release(self.ns, self.policy)
            self.firewall_on = False
            self.record("firewall_released", why, at=at)
            self.journal.client(*at, f"firewall released ({why})", 4)

    # --- the physical link -------------------------------------------------------------
    def link_down(self, why="carrier lost", iface=None):
        """The uplink (or ``iface``) loses its link; its routes go with it."""
        iface = iface or self.uplink
        at = now()
        topo.ipn(self.ns, "link", "set", iface, "down")
        self.record("link_down", f"{iface}: {why}" if iface != "wlan0" else why, at=at)
        if iface != "wlan0":           # a wired LAN: the driver's words, no access point
            self.journal.kernel(*at, f"{iface}: Link is Down")
            self.journal.nm_device(*at, iface, "activated", "unavailable", "carrier-changed")
        elif why == "suspend":
            self.journal.kernel(*at, "wlan0: deauthenticating from 02:00:5e:00:53:01 by local "
                                     "choice (Reason: 3=DEAUTH_LEAVING)")
            self.journal.nm_device(*at, "wlan0", "activated", "unavailable", "sleeping")
        else:
            self.journal.kernel(*at, "wlan0: Connection to AP 02:00:5e:00:53:01 lost")
            self.journal.nm_device(*at, "wlan0", "activated", "unavailable", "carrier-changed")
        return at[0]

    def link_up(self, addr=None, iface=None):
        """The uplink (or ``iface``, which becomes the uplink: the device moved there) is up
        with a DHCP lease ``addr``: address, default route, endpoint route."""
        self.addr = addr or self.addr
        self.uplink = iface = iface or self.uplink
        topo.wlan_up(self.names, self.addr, self.ipv6, iface=iface,
                     endpoint_route=self.endpoint_route)
        at = self.record("link_up", f"{iface} address {self.addr}" if iface != "wlan0"
                         else f"address {self.addr}")
        self.journal.kernel(*at, f"{iface}: associated" if iface == "wlan0"
                            else f"{iface}: Link is Up - 1Gbps/Full - flow control off")
        self.journal.kernel(*at, f"IPv6: ADDRCONF(NETDEV_CHANGE): {iface}: link becomes ready")
        self.journal.nm(*at, f"dhcp4 ({iface}): state changed new lease, address={self.addr}")
        self.journal.nm_device(*at, iface, "ip-config", "activated", "none")
        return at[0]

    # --- what the interface's disappearance looks like ----------------------------------
    def interface_gone(self):
        """True when the tunnel interface no longer exists in the device namespace."""
        return subprocess.run(["ip", "-n", self.ns, "link", "show", "dev", self.ifname],
                              capture_output=True, timeout=topo.CMD_TIMEOUT_S).returncode != 0
