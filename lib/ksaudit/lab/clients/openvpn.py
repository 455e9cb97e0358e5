"""``--client openvpn``: real OpenVPN 2.6, server and client, on the clients base.

The protocol pieces (PKI, command lines, the process handle) are `ksaudit.lab.openvpn`;
here is what the runner and the events call: the server in the vpn namespace, and a
client the harness only starts, signals, kills and observes (docs/lab.md "OpenVPN").
"""

import os
import signal

from ksaudit.lab import topology as topo
from ksaudit.errors import KsauditError
from ksaudit.lab.clients.base import Client, TunnelNotBack, copy_prefix, log_entry
from ksaudit.lab.journal import now
from ksaudit.lab.openvpn import (INIT_DONE, MGMT_TIMEOUT_S, PORT, READY_TIMEOUT_S,
                                 REDIRECT_ROUTES4, REDIRECT_ROUTES6, SERVER_NAME, OpenVPN,
                                 client_options, make_pki, routes_on, server_options,
                                 tun_names)
from ksaudit.lab.procs import wait_for

UNIT = "openvpn-client@ksaudit-lab.service"     # Debian's unit for a client config
LOG = "logs/openvpn.log"


class OpenVPNServer:
    """The OpenVPN server in the vpn namespace with the run's PKI (`make_pki`), and how the
    device side sees that a tunnel to it works: for `OpenVPNClient` and for a client file
    with ``server: openvpn`` (docs/lab.md "Client files")."""

    protocol = "openvpn"
    endpoint = (topo.UP_VPN, PORT, "udp")
    PLACEHOLDERS = ("ca", "cert", "key", "tls_crypt", "server_name", "endpoint_host",
                    "endpoint_port", "proto")

    def __init__(self, ctx):
        self.ctx = ctx
        self.ifname = tun_names(ctx.names)[1]
        self.client_ifname = self.client_ifname_of(ctx.names)
        self.pki = make_pki(ctx.workdir)
        self.process = None
        self._heard_base = None       # `observed_up`: received_from() when routes were seen

    @staticmethod
    def client_ifname_of(names):
        """The client's tun device name in run ``names`` (``ovksc<id>``)."""
        return tun_names(names)[0]

    def placeholders(self):
        """What a client file's ``{name}``s become (PLACEHOLDERS): the client's credentials
        as paths of the run's PKI files (mode 0600), the server's certificate name and
        endpoint."""
        host, port, proto = self.endpoint
        return {"ca": self.pki["ca"], "cert": self.pki["client_cert"],
                "key": self.pki["client_key"], "tls_crypt": self.pki["tls_crypt"],
                "server_name": SERVER_NAME, "endpoint_host": host, "endpoint_port": str(port),
                "proto": proto}

    def start(self):
        """Start the server; returns once it listens."""
        self.process = OpenVPN(self.ctx.procs, "ovpn-server", self.ctx.names.vpn, self.ifname,
                               self.ctx.workdir, self.pki, server_options(self.pki, self.ctx.ipv6))
        self.process.wait_log(INIT_DONE, self.process.start(), READY_TIMEOUT_S, "listening")

    def close(self):
        """Nothing to release: the process is the runner's (Procs), its log a path."""

    def forget_client(self, ifname):
        """Nothing: a tun device goes with its process or its namespace."""

    def routes(self):
        """The routes the client's ``redirect-gateway def1 [ipv6]`` adds."""
        return REDIRECT_ROUTES4 + (REDIRECT_ROUTES6 if self.ctx.ipv6 else ())

    def heard_from(self, base, host=None):
        """True when the server has received packets from the client (at ``host``, any
        address if None) since its ``received_from()`` was ``base``."""
        return any((host is None or addr.rpartition(":")[0] == host) and rx > base.get(addr, 0)
                   for addr, rx in self.process.received_from().items())

    def wait_heard_from(self, host, timeout_s=READY_TIMEOUT_S):
        """Wait (bounded) until the server has received packets from the client at
        ``host`` (its current uplink address) since this call: the proof that the link
        carries the tunnel again, which routes on the device's tun device are not (after
        the link under them went, openvpn's own packets are routed into its tun device
        until ping-restart).  The server is asked, not the client: polling the client's
        management socket would log three lines per poll into the client's log, which is
        evidence."""
        base = self.process.received_from()
        try:
            wait_for(lambda: self.heard_from(base, host), timeout_s,
                     f"the OpenVPN server to hear from the client at {host}", interval_s=0.005)
        except KsauditError as exc:
            raise TunnelNotBack(str(exc)) from None

    def observed_up(self, ns, ifname):
        """Polled from the start of a wait: True once every pulled route is on the device's
        tun device ``ifname`` and the server has received packets from the client since
        they were first seen there (`heard_from`; routes alone are no proof, as in
        `wait_heard_from`).  A call that sees no routes, or returns True, starts over."""
        if not set(self.routes()) <= routes_on(ns, ifname):
            self._heard_base = None
            return False
        if self._heard_base is None:
            self._heard_base = self.process.received_from()
            return False
        if not self.heard_from(self._heard_base):
            return False
        self._heard_base = None
        return True


class OpenVPNClient(Client):
    """``openvpn --client`` in the device namespace: it adds and removes its own routes,
    so the harness only starts, signals and kills it, and observes.

    - ``start_process``: start openvpn (it connects by itself); ``tunnel_up`` waits
      (bounded) for the pulled routes on its tun device, stamped when seen.
    - ``tunnel_down`` with ``user-requested`` (the reconnect event): ``signal SIGUSR1``
      on the management socket, OpenVPN's own reconnect (routes and tun device go, a
      CONNECT_RETRY_S pause, a new TLS session, new routes); the other reasons are a
      network manager's reaction, which a bare openvpn does not have: nothing happens.
    - A lost link takes openvpn's host route to the server with it, and nothing puts it
      back when a link (the same or another LAN) comes up: its packets go into its own
      tun device until ``ping-restart`` (PING_RESTART_S) restarts it, and the restart
      adds the route via the gateway of the moment (``endpoint_route = False``).
    - ``kill_process``: SIGKILL; the kernel removes the tun device and its routes.
    - ``disconnect``: SIGTERM; openvpn removes its routes and exits.
    - ``--policy client``: ``persist-tun`` (`protection`).  It also keeps those routes
      across ping-restart after the host route went, so the restarted openvpn's own
      packets go into its tun device and it never reconnects: `tunnel_up` raises
      TunnelNotBack (the trial is not restored).

    The journal gets what the harness, as the client's supervisor and monitor, knows:
    systemd's lines of the unit, NetworkManager's removal of a killed client's device,
    and ``ksaudit-lab-client`` lines for each tunnel change it caused or observed (as
    for every real client: without them a Wi-Fi loss OpenVPN rides out has no log line
    saying the tunnel is fine).
    """

    name = "openvpn"
    supports_client_policy = True
    protection = ("openvpn --persist-tun: the tun device and its routes stay across "
                  "SIGUSR1 and ping-restart restarts (traffic is held, not routed to wlan0); "
                  "a killed process takes them with it")
    processes = ["openvpn", UNIT]
    endpoint_route = False      # redirect-gateway def1 adds it at connect; it goes with the link

    def __init__(self, ctx):
        super().__init__(ctx, OpenVPNServer(ctx), tun_names(ctx.names)[0])
        self.pki = self.server.pki
        options = client_options(self.pki, persist_tun=ctx.policy == "client")
        self.process = OpenVPN(ctx.procs, "ovpn-client", self.ns, self.ifname, ctx.workdir,
                               self.pki, options)
        self._since = 0                # log offset of the last start or reconnect

    def start_server(self):
        self.server.start()

    def collect_logs(self, partial):
        """openvpn's log as it stood when the captures stopped; its epoch stamps
        (--machine-readable-output) need no timezone."""
        copy_prefix(self.process.log_path, os.path.join(partial, LOG))
        return [log_entry(LOG, "openvpn", timezone=None)]

    def _pid(self):
        return self.process.proc.pid

    # --- the process ---------------------------------------------------------------------
    def start_process(self):
        """Start (or restart) openvpn; it connects on its own (`tunnel_up` waits)."""
        if self.policy == "app-level":       # the app's own rules come with the process
            self.engage_firewall("client process started")
        self._since = self.process.start()
        at = self.record("process_started", f"openvpn pid {self._pid()}")
        self.journal.systemd(*at, f"Started {UNIT} - OpenVPN tunnel for ksaudit-lab.")

    def kill_process(self):
        """SIGKILL openvpn by PID; its tun device and the routes on it vanish."""
        pid = self._pid()
        at = self.process.kill()
        self.record("process_killed", f"SIGKILL openvpn pid {pid}", at=at)
        self.owner_died()
        gone = self.process.reap()
        self.record("interface_removed", self.ifname, at=gone)
        self.journal.nm_device(*gone, self.ifname, "activated", "unmanaged", "removed")
        self.killed(UNIT, "openvpn killed by signal 9")
        return at[0]

    def freeze_process(self, frozen):
        at = now()
        os.kill(self._pid(), signal.SIGSTOP if frozen else signal.SIGCONT)
        self.record("process_frozen" if frozen else "process_resumed", f"pid {self._pid()}",
                    at=at if frozen else None)

    def disconnect(self):
        """SIGTERM: openvpn removes its routes, closes the tun device and exits; every
        policy but ``strong`` releases its firewall.  Returns the ns time."""
        at = now()
        pid = self._pid()
        self.record("tunnel_down", "disconnect requested", at=at)
        self.record("process_stopped", f"SIGTERM openvpn pid {pid}", at=at)
        self.journal.client(*at, f"tunnel down (disconnect requested; dev {self.ifname})", 4)
        self.process.stop()
        self.tunnel_is_up = False
        self.set_resolver(topo.LAN_RESOLVER)
        self.journal.systemd(*now(), f"{UNIT}: Deactivated successfully.")
        if self.policy != "strong":
            self.release_firewall("disconnected")
        return at[0]

    # --- the tunnel ----------------------------------------------------------------------
    def tunnel_up(self, why="connected"):
        """Start openvpn if it is not running, wait (bounded) until it has completed its
        last start or restart, ping-restarts included, with its pulled routes on the tun
        device (`OpenVPN.wait_ready`), and until the server hears from it at its current
        address (`OpenVPNServer.wait_heard_from`: after a network change the routes are
        still there while its packets go nowhere, until ping-restart reconnects it);
        then ready again (the restart's routes).  Returns the ns time that was seen."""
        if self.process.proc is None:
            self.start_process()
        self.process.wait_ready(self._since, self.server.routes())
        self.server.wait_heard_from(self.addr)     # TunnelNotBack (persist-tun: the class)
        self.process.wait_ready(self._since, self.server.routes())
        at = self.record("tunnel_up", f"{why} (observed)")
        self.tunnel_is_up = True
        self.set_resolver(topo.TUNNEL_RESOLVER)
        self.snapshot_links()            # a restarted tun device has a new ifindex
        self.journal.client(*at, f"tunnel up ({why}; Initialization Sequence Completed and "
                                 f"routes observed; dev {self.ifname})")
        return at[0]

    def tunnel_down(self, why, nm_reason="user-requested"):
        """``user-requested``: OpenVPN's reconnect (management ``signal SIGUSR1``),
        returning once its routes are gone; otherwise nothing (see the class).  Returns
        the ns time taken before the signal."""
        at = now()
        if nm_reason != "user-requested":
            return at[0]
        self._since = self.process.log_size()
        self.process.command("signal SIGUSR1")
        if self.policy != "client":          # persist-tun keeps them
            wait_for(lambda: not routes_on(self.ns, self.ifname) & set(self.server.routes()),
                     MGMT_TIMEOUT_S, f"openvpn's routes on {self.ifname} to go", interval_s=0.001)
        self.record("tunnel_down", why, at=at)
        self.tunnel_is_up = False
        self.set_resolver(topo.LAN_RESOLVER)
        self.journal.client(*at, f"tunnel down ({why}; SIGUSR1 sent; dev {self.ifname})", 4)
        return at[0]
