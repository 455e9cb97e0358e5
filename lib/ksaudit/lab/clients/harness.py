"""``--client wireguard-go`` (the default): wireguard-go as the data plane, the harness as
the control plane (routes, DNS, firewall), logging like a real system would.

Routing is the usual full-tunnel trick: DHCP's default route via wlan0 stays, the
client adds ``0.0.0.0/1`` + ``128.0.0.0/1`` (and ``::/1`` + ``8000::/1``) via the tunnel
and a host route to the endpoint via wlan0.  So when the tunnel's routes go (client
tears it down, or the wireguard-go process dies and its interface with it), traffic
falls back to wlan0 unless a kill switch blocks it.
"""

import os
import signal

from ksaudit.lab import topology as topo, wireguard as wg
from ksaudit.lab.clients.base import Client, WireGuardServer, copy_prefix, log_entry
from ksaudit.lab.journal import now
from ksaudit.lab.procs import wait_for

WG_LOG = "logs/wireguard-go.log"


class HarnessClient(Client):
    """The lab's own client: every step is the harness's, so every step is stamped exactly."""

    name = "wireguard-go"

    def __init__(self, ctx):
        super().__init__(ctx, WireGuardServer(ctx), ctx.names.wg_client)
        self.detached, self.tz = ctx.detached, ctx.tz
        self.wg_log_path = os.path.join(self.workdir, "wireguard-go.log")
        self.wg_log = open(self.wg_log_path, "ab")

    def start_server(self):
        self.server.start()

    def close(self):
        self.wg_log.close()
        super().close()

    def collect_logs(self, partial):
        """The client's log as it stood when the captures stopped (its shutdown lines at
        teardown would be a tunnel-down no capture covers)."""
        self.wg_log.flush()
        copy_prefix(self.wg_log_path, os.path.join(partial, WG_LOG))
        return [log_entry(WG_LOG, "wireguard-go")]

    # --- data plane ----------------------------------------------------------------
    def start_process(self):
        """Start (or restart) wireguard-go and configure the interface (no routes yet)."""
        self.owner_started()
        if self.detached:
            wg.start_detached(self.procs, "wg-client", self.ns, self.ifname, self.wg_log, tz=self.tz)
        else:
            wg.start_daemon(self.procs, "wg-client", self.ns, self.ifname, self.wg_log)
        wg.configure_client(self.ns, self.ifname, self.server.client_priv, self.workdir)
        at = self.record("process_started", f"wireguard-go pid {self.procs.get('wg-client').pid}")
        self.journal.systemd(*at, "Started ksaudit-lab-client-wg.service - WireGuard data plane "
                             f"({self.ifname}).")
        self.snapshot_links()

    def kill_process(self):
        """SIGKILL wireguard-go by PID; its tun interface and the tunnel routes vanish."""
        proc = self.procs.get("wg-client")
        at = self.record("process_killed", f"SIGKILL wireguard-go pid {proc.pid}")
        os.kill(proc.pid, signal.SIGKILL)
        self.owner_died()
        # NetworkManager hears RTM_DELLINK as soon as the dying process's tun closes,
        # before the process can be reaped: log it when the interface is gone.
        wait_for(self.interface_gone, 5.0, f"{self.ifname} to disappear", interval_s=0.001)
        gone = self.record("interface_removed", self.ifname)
        self.journal.nm_device(*gone, self.ifname, "activated", "unmanaged", "removed")
        proc.wait(timeout=5)
        self.procs.forget("wg-client")
        self.killed("ksaudit-lab-client-wg.service", "wireguard-go exited: killed by signal 9")
        return at[0]

    def disconnect(self):
        """The user's disconnect (and how a test run ends on the foreign rig): the tunnel
        is taken down, wireguard-go is stopped with SIGTERM (it logs "Device closing" and
        "Shutting down"), and every policy but ``strong`` (lockdown stays) drops its
        firewall.  Returns the ns time."""
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
        wg.handshake(self.ns, self.ifname, self.server.public_key)
        self._routes("replace")
        at = self.record("tunnel_up", why)
        self.tunnel_is_up = True
        self.set_resolver(topo.TUNNEL_RESOLVER)
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
        self.set_resolver(topo.LAN_RESOLVER)
        self.journal.nm_device(*at, self.ifname, "activated", "disconnected", nm_reason)
        self.journal.client(*at, f"tunnel down ({why}; dev {self.ifname})", 4)
        return at[0]
