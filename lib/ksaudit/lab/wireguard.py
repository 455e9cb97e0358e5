"""WireGuard via ``wireguard-go`` (userspace, /dev/net/tun): keys, daemons, handshakes.

wireguard-go's control sockets in /var/run/wireguard are global, not per namespace, so
every interface name is unique per run; readiness is the socket accepting a connection
(``wg show`` would race the socket's creation, and the file exists between wireguard-go's
bind and listen: a ``wg set`` then falls back to netlink, "Protocol not supported").
"""

import os
import socket

from ksaudit.errors import KsauditError
from ksaudit.lab import topology as topo
from ksaudit.lab.daemon import Detached, find_pid
from ksaudit.lab.procs import wait_for

SOCKET_TIMEOUT_S = 5.0
HANDSHAKE_TIMEOUT_S = 5.0


def genkeys():
    """(private, public) base64 keys from ``wg genkey`` / ``wg pubkey``."""
    priv = topo.sh(["wg", "genkey"]).strip()
    pub = topo.sh(["wg", "pubkey"], input_text=priv + "\n").strip()
    return priv, pub


def socket_path(ifname):
    return os.path.join(topo.WG_SOCKET_DIR, f"{ifname}.sock")


def start_daemon(procs, name, ns, ifname, log_file):
    """Start ``wireguard-go -f ifname`` in ``ns`` (LOG_LEVEL=verbose, TZ=UTC, output to
    ``log_file``), wait for its control socket; returns the Popen."""
    unlink_socket(ifname)
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LOG_LEVEL": "verbose",
           "TZ": "UTC", "WG_PROCESS_FOREGROUND": "1"}
    proc = procs.start(name, ["wireguard-go", "-f", ifname], ns=ns, stdout=log_file,
                       stderr=log_file, env=env)
    wait_for(lambda: socket_ready(ifname) or proc.poll() is not None,
             SOCKET_TIMEOUT_S, f"wireguard-go socket {socket_path(ifname)}")
    if proc.poll() is not None:
        raise KsauditError(f"lab: wireguard-go {ifname} exited with {proc.returncode} at start")
    return proc


def start_detached(procs, name, ns, ifname, log_file, tz="UTC", log_level="debug"):
    """Start wireguard-go the ordinary way, ``wireguard-go ifname`` without ``-f``: it
    prints its banner (no WG_PROCESS_FOREGROUND), daemonizes and exits; the daemon
    keeps writing to ``log_file`` (the launcher's stdout and stderr).  The daemon is
    found by its command line and registered in ``procs`` under ``name`` by PID.
    Returns its `Detached` handle."""
    unlink_socket(ifname)
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LOG_LEVEL": log_level,
           "TZ": tz}
    argv = ["wireguard-go", ifname]
    launcher = procs.start(name + "-launcher", argv, ns=ns, stdout=log_file, stderr=log_file, env=env)
    wait_for(lambda: launcher.poll() is not None, SOCKET_TIMEOUT_S, f"wireguard-go {ifname} to daemonize")
    procs.forget(name + "-launcher")
    if launcher.returncode != 0:
        raise KsauditError(f"lab: wireguard-go {ifname} exited with {launcher.returncode} at start")
    found = {}

    def daemon_up():
        found["pids"] = find_pid(argv, exclude=(launcher.pid,))
        return bool(found["pids"]) and socket_ready(ifname)

    wait_for(daemon_up, SOCKET_TIMEOUT_S, f"the wireguard-go {ifname} daemon and its socket")
    if len(found["pids"]) != 1:
        raise KsauditError(f"lab: {len(found['pids'])} wireguard-go daemons for {ifname}")
    daemon = Detached(found["pids"][0], argv)
    procs.adopt(name, daemon)
    return daemon


def socket_ready(ifname):
    """True when ``ifname``'s control socket accepts a connection (wireguard-go listens)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(socket_path(ifname))
        except OSError:             # not there yet, or bound but not yet listening
            return False
    return True


def unlink_socket(ifname):
    """Remove ``ifname``'s control socket if present (a killed daemon leaves it behind)."""
    try:
        os.unlink(socket_path(ifname))
    except FileNotFoundError:
        pass


def configure_server(ns, ifname, priv, client_pub, keyfile_dir):
    """Server side: listen port, the client as peer, tunnel addresses, link up."""
    key = _keyfile(keyfile_dir, ifname, priv)
    topo.sh(["wg", "set", ifname, "listen-port", str(topo.WG_PORT), "private-key", key,
             "peer", client_pub, "allowed-ips", f"{topo.TUN_CLI}/32,{topo.TUN6_CLI}/128"], ns=ns)
    topo.ipn(ns, "addr", "add", f"{topo.TUN_SRV}/24", "dev", ifname)
    topo.ipn(ns, "addr", "add", f"{topo.TUN6_SRV}/64", "dev", ifname, "nodad")
    topo.ipn(ns, "link", "set", ifname, "up")


def configure_client(ns, ifname, priv, keyfile_dir):
    """Client side: private key, tunnel addresses, link up (the peer is added by
    ``handshake``)."""
    key = _keyfile(keyfile_dir, ifname, priv)
    topo.sh(["wg", "set", ifname, "private-key", key], ns=ns)
    topo.ipn(ns, "addr", "add", f"{topo.TUN_CLI}/32", "dev", ifname)
    topo.ipn(ns, "addr", "add", f"{topo.TUN6_CLI}/128", "dev", ifname, "nodad")
    topo.ipn(ns, "link", "set", ifname, "up")


def handshake(ns, ifname, server_pub, timeout_s=HANDSHAKE_TIMEOUT_S):
    """(Re)add the server as peer, which makes wireguard-go send a keepalive and so a
    fresh handshake; wait (bounded) until it completes.  Returns the handshake time (s)."""
    topo.sh(["wg", "set", ifname, "peer", server_pub, "remove"], ns=ns, check=False)
    topo.sh(["wg", "set", ifname, "peer", server_pub, "endpoint", f"{topo.UP_VPN}:{topo.WG_PORT}",
             "allowed-ips", "0.0.0.0/0,::/0", "persistent-keepalive", "25"], ns=ns)
    state = {}

    def done():
        state["ts"] = latest_handshake(ns, ifname)
        return state["ts"] > 0   # a re-added peer starts at 0

    wait_for(done, timeout_s, f"WireGuard handshake on {ifname}", interval_s=0.005)
    return state["ts"]


def latest_handshake(ns, ifname):
    """The first peer's latest handshake (s since the epoch) on ``ifname``, 0 for none yet
    or when the interface is gone."""
    out = topo.sh(["wg", "show", ifname, "latest-handshakes"], ns=ns, check=False).split()
    return int(out[1]) if len(out) >= 2 and out[1].isdigit() else 0


def _keyfile(directory, ifname, priv):
    path = os.path.join(directory, f"{ifname}.key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(priv + "\n")
    return path
