"""The VPN client on the device: wireguard-go as its data plane, the harness as its
control plane (routes, DNS, firewall), logging like a real system would.

Routing is the usual full-tunnel trick: DHCP's default route via wlan0 stays, the
client adds ``0.0.0.0/1`` + ``128.0.0.0/1`` (and ``::/1`` + ``8000::/1``) via the tunnel
and a host route to the endpoint via wlan0.  So when the tunnel's routes go (client
tears it down, or the wireguard-go process dies and its interface with it), traffic
falls back to wlan0 unless a kill switch blocks it.  Every state change is recorded
with the harness's own ns timestamp (``changes``) and logged to the journal.
"""

import os
import signal
import subprocess

from ksaudit.lab import firewall, topology as topo, wireguard as wg
from ksaudit.lab.journal import now
from ksaudit.lab.procs import wait_for


class Client:
    """State and primitives of the device's VPN client for one run.

    Time stamps are conservative for the truth: a change that can open a leak (tunnel
    down, firewall released, link down) is stamped just before the command that makes
    it; a change that closes one (tunnel up, firewall engaged) just after."""

    def __init__(self, names, procs, journal, policy, allow_lan, ipv6, workdir, wg_log, server_pub,
                 detached=False, tz="UTC"):
        self.names, self.procs, self.journal = names, procs, journal
        self.detached, self.tz = detached, tz    # the foreign rig: `wireguard-go IF` without -f
        self.policy, self.allow_lan, self.ipv6 = policy, allow_lan, ipv6
        self.workdir, self.wg_log, self.server_pub = workdir, wg_log, server_pub
        self.ns, self.ifname = names.dev, names.wg_client
        self.priv, self.pub = wg.genkeys()
        self.changes = []              # [{"ts_ns", "change", "detail"}]
        self.ifindex = {}              # every ifindex seen in the device namespace
        self.firewall_on = False
        self.tunnel_is_up = False
        self.resolver_file = os.path.join(workdir, "resolver")
        self.addr = topo.DEV_ADDR

    # --- bookkeeping -------------------------------------------------------------
    def record(self, change, detail="", at=None):
        ts_ns, mono_ns = at or now()
        self.changes.append({"ts_ns": ts_ns, "change": change, "detail": detail})
        return ts_ns, mono_ns

    def snapshot_links(self):
        links = topo.link_snapshot(self.ns)
        for link in links:
            self.ifindex[int(link["ifindex"])] = link["ifname"]
        return links

    def _set_resolver(self, addr):
        tmp = self.resolver_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(addr + "\n")
        os.replace(tmp, self.resolver_file)

    # --- data plane ----------------------------------------------------------------
    def start_process(self):
        """Start (or restart) wireguard-go and configure the interface (no routes yet)."""
        if self.policy == "app-level":       # the app's own rules come with the process
            self.engage_firewall("client process started")
        if self.detached:
            wg.start_detached(self.procs, "wg-client", self.ns, self.ifname, self.wg_log, tz=self.tz)
        else:
            wg.start_daemon(self.procs, "wg-client", self.ns, self.ifname, self.wg_log)
        wg.configure_client(self.ns, self.ifname, self.priv, self.workdir)
        at = self.record("process_started", f"wireguard-go pid {self.procs.get('wg-client').pid}")
        self.journal.systemd(*at, "Started ksaudit-lab-client-wg.service - WireGuard data plane "
                             f"({self.ifname}).")
        self.snapshot_links()

    def kill_process(self):
        """SIGKILL wireguard-go by PID; its tun interface and the tunnel routes vanish."""
        proc = self.procs.get("wg-client")
        at = self.record("process_killed", f"SIGKILL wireguard-go pid {proc.pid}")
        os.kill(proc.pid, signal.SIGKILL)
        if self.policy == "app-level":        # rules owned by the process die with it
            released = now()
            firewall.release(self.ns, self.policy)
            self.firewall_on = False
            self.record("firewall_released", "owner process died", at=released)
        # NetworkManager hears RTM_DELLINK as soon as the dying process's tun closes,
        # before the process can be reaped: log it when the interface is gone.
        wait_for(lambda: subprocess.run(["ip", "-n", self.ns, "link", "show", "dev", self.ifname],
                                        capture_output=True, timeout=5).returncode != 0,
                 5.0, f"{self.ifname} to disappear", interval_s=0.001)
        gone = self.record("interface_removed", self.ifname)
        self.journal.nm_device(*gone, self.ifname, "activated", "unmanaged", "removed")
        proc.wait(timeout=5)
        self.procs.forget("wg-client")
        self.tunnel_is_up = False
        ts, mono = now()
        self.journal.systemd(ts, mono, "ksaudit-lab-client-wg.service: Main process exited, "
                             "code=killed, status=9/KILL")
        self.journal.client(ts, mono, "tunnel down (wireguard-go exited: killed by signal 9; "
                                       f"dev {self.ifname})", 3)
        self._set_resolver(topo.LAN_RESOLVER)
        return at[0]

    def disconnect(self):
        """How a test run ends on the foreign rig: the tunnel is taken down, wireguard-go is
        stopped with SIGTERM (it logs "Device closing" and "Shutting down"), and every
        policy but ``strong`` (lockdown stays) drops its firewall.  Returns the ns time."""
        down = self.tunnel_down("disconnect requested")
        proc = self.procs.get("wg-client")
        at = self.record("process_stopped", f"SIGTERM wireguard-go pid {proc.pid}")
        self.journal.agent(*at, f"supervisor: stopping wireguard-go[{proc.pid}]")
        self.procs.stop("wg-client", timeout_s=5.0)
        if self.policy != "strong":
            self.release_firewall("disconnected")
        return down

    def freeze_process(self, frozen):
        proc = self.procs.get("wg-client")
        at = now()
        os.kill(proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)
        self.record("process_frozen" if frozen else "process_resumed", f"pid {proc.pid}",
                    at=at if frozen else None)

    # --- tunnel ----------------------------------------------------------------------
    def _routes(self, verb):
        lines = [f"route {verb} {r} dev {self.ifname}" for r in topo.TUNNEL_ROUTES4]
        if self.ipv6:
            lines += [f"route {verb} {r} dev {self.ifname}" for r in topo.TUNNEL_ROUTES6]
        topo.sh(["ip", "-n", self.ns, "-force", "-batch", "-"], input_text="\n".join(lines) + "\n",
                check=(verb == "replace"))

    def tunnel_up(self, why="connected"):
        """Fresh handshake, then the tunnel routes; returns the ns time the routes were in."""
        ts, mono = now()
        self.journal.nm_device(ts, mono, self.ifname, "disconnected", "prepare", "none")
        wg.handshake(self.ns, self.ifname, self.server_pub)
        self._routes("replace")
        at = self.record("tunnel_up", why)
        self.tunnel_is_up = True
        self._set_resolver(topo.TUNNEL_RESOLVER)
        self.journal.nm_device(*at, self.ifname, "secondaries", "activated", "none")
        self.journal.client(*at, f"tunnel up ({why}; handshake with {topo.UP_VPN}:{topo.WG_PORT} "
                                 f"completed; dev {self.ifname})")
        return at[0]

    def tunnel_down(self, why, nm_reason="user-requested"):
        """Remove the tunnel routes (the interface stays); returns the ns time (taken
        before the routes go: a change that opens a leak is stamped at its start)."""
        at = now()
        self._routes("del")
        self.record("tunnel_down", why, at=at)
        self.tunnel_is_up = False
        self._set_resolver(topo.LAN_RESOLVER)
        self.journal.nm_device(*at, self.ifname, "activated", "disconnected", nm_reason)
        self.journal.client(*at, f"tunnel down ({why}; dev {self.ifname})", 4)
        return at[0]

    # --- firewall ----------------------------------------------------------------------
    def engage_firewall(self, why):
        if firewall.engage(self.ns, self.policy, self.ifname, self.allow_lan):
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
    def link_down(self, why="carrier lost"):
        at = now()
        topo.ipn(self.ns, "link", "set", "wlan0", "down")
        self.record("link_down", why, at=at)
        if why == "suspend":
            self.journal.kernel(*at, "wlan0: deauthenticating from 02:00:5e:00:53:01 by local "
                                     "choice (Reason: 3=DEAUTH_LEAVING)")
            self.journal.nm_device(*at, "wlan0", "activated", "unavailable", "sleeping")
        else:
            self.journal.kernel(*at, "wlan0: Connection to AP 02:00:5e:00:53:01 lost")
            self.journal.nm_device(*at, "wlan0", "activated", "unavailable", "carrier-changed")
        return at[0]

    def link_up(self, addr=None):
        self.addr = addr or self.addr
        topo.wlan_up(self.names, self.addr, self.ipv6)
        at = self.record("link_up", f"address {self.addr}")
        self.journal.kernel(*at, "wlan0: associated")
        self.journal.kernel(*at, "IPv6: ADDRCONF(NETDEV_CHANGE): wlan0: link becomes ready")
        self.journal.nm(*at, f"dhcp4 (wlan0): state changed new lease, address={self.addr}")
        self.journal.nm_device(*at, "wlan0", "ip-config", "activated", "none")
        return at[0]

    def change_address(self, new_addr):
        """A new DHCP lease on the same link: old address gone, new one, routes again."""
        at = now()
        topo.ipn(self.ns, "addr", "del", f"{self.addr}/24", "dev", "wlan0", check=False)
        self.addr = new_addr
        topo.wlan_up(self.names, new_addr, self.ipv6)
        self.record("address_changed", new_addr, at=at)
        self.journal.nm(*at, f"dhcp4 (wlan0): state changed new lease, address={new_addr}")
        self.journal.nm(*at, "policy: set 'ksaudit-lab-wifi' (wlan0) as default for IPv4 routing "
                             "and DNS")
        return at[0]
