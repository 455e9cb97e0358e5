"""OpenVPN (Debian's ``openvpn`` 2.6) for the lab: a per-run PKI, the command lines of
the server (vpn namespace) and the client (device namespace), UDP with a ``tun`` device,
and a handle on one openvpn process (start by PID, its log, its management socket).

Credentials are made per run in the run's work directory (never under the repo): an EC
P-256 CA, a server and a client certificate, and a ``tls-crypt`` key from ``openvpn
--genkey``; every file is mode 0600 (a client file's config names them).  The server
uses the topology's tunnel addresses (10.64.0.1/24, fd00:64::1/64; the client gets .2 /
::2) so the VPN namespace's masquerade (`topology.create`) applies to OpenVPN as it does
to WireGuard.

The client pulls ``redirect-gateway def1`` (``0.0.0.0/1`` + ``128.0.0.0/1`` via the tun
device, a host route to the server via the physical gateway; with ``ipv6``, 2.6's
``::/3``, ``2000::/4``, ``3000::/4``, ``fc00::/7``) and adds and removes those routes
itself: when its tun device goes (SIGKILL, a restart without ``persist-tun``), traffic
falls back to DHCP's default route unless a kill switch blocks it.  Each process logs
with ``--verb 3`` and ``--machine-readable-output`` (epoch.usec stamps, read by the
``openvpn`` log format) to a file, and has a management socket (unix, in the work dir)
for its state and for ``signal SIGUSR1``.  The lab client on top: `clients.openvpn`.
"""

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ksaudit.errors import KsauditError
from ksaudit.lab import topology as topo
from ksaudit.lab.journal import now
from ksaudit.lab.procs import wait_for

PORT = 1194
NAME_PREFIX = "ovks"       # + "c"/"s" + run id: client/server tun device names (11 chars)
# the client notices a lost server within PING_RESTART_S (PING_S between its pings)
PING_S, PING_RESTART_S = 1, 4
CONNECT_RETRY_S = 1        # pause before a restarted client tries again (openvpn's minimum)
READY_TIMEOUT_S = 15.0     # TLS handshake (EC, two processes on a loaded 2-core machine)
MGMT_TIMEOUT_S = 5.0
INIT_DONE = "Initialization Sequence Completed"
RESTARTING = "received, process restarting"      # SIGUSR1[hard,] / SIGUSR1[soft,ping-restart]
CERT_DAYS = 2
SERVER_NAME = "ksaudit-lab-server"    # the server certificate's CN, which the client checks


def tun_names(names):
    """(client, server) tun device names of a run: ``ovksc<id>`` / ``ovkss<id>``."""
    return f"{NAME_PREFIX}c{names.run_id}", f"{NAME_PREFIX}s{names.run_id}"


# --- credentials -------------------------------------------------------------------------
def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject, issuer, pub, signer, *, ca=False, usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_agreement=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False,
                                          decipher_only=False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return b.sign(signer, hashes.SHA256())


def make_pki(workdir):
    """A CA, a server and a client certificate (EC P-256) and a tls-crypt key in
    ``workdir``, every file mode 0600.  Returns {ca, server_cert, server_key,
    client_cert, client_key, tls_crypt} paths."""
    if shutil.which("openvpn") is None:
        raise KsauditError("lab: --client openvpn needs 'openvpn' on PATH (bash .ci/install)")

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("ksaudit lab CA")
    ca = _cert(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    paths = {"ca": os.path.join(workdir, "ovpn-ca.crt")}
    _write_private(paths["ca"], ca.public_bytes(serialization.Encoding.PEM))
    for role, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH),
                        ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name(f"ksaudit-lab-{role}"), ca_name, key.public_key(), ca_key, usage=usage)
        paths[f"{role}_cert"] = os.path.join(workdir, f"ovpn-{role}.crt")
        paths[f"{role}_key"] = os.path.join(workdir, f"ovpn-{role}.key")
        _write_private(paths[f"{role}_cert"], cert.public_bytes(serialization.Encoding.PEM))
        _write_private(paths[f"{role}_key"], _key_pem(key))
    paths["tls_crypt"] = os.path.join(workdir, "ovpn-tls-crypt.key")
    _write_private(paths["tls_crypt"], b"")          # 0600 before openvpn writes the secret
    topo.sh(["openvpn", "--genkey", "secret", paths["tls_crypt"]])
    return paths


# --- command lines -----------------------------------------------------------------------
def _common(pki, dev, log, mgmt):
    """Options server and client share: UDP, tun, the userspace data path (no kernel DCO
    module here), TLS with tls-crypt, the log and the management socket."""
    return ["openvpn", "--proto", "udp", "--dev", dev, "--dev-type", "tun", "--disable-dco",
            "--topology", "subnet", "--ca", pki["ca"], "--tls-crypt", pki["tls_crypt"],
            "--verb", "3", "--machine-readable-output", "--log-append", log,
            "--management", mgmt, "unix"]


def server_options(pki, ipv6):
    """The server: listens on PORT, gives the client 10.64.0.2 (fd00:64::2), pushes
    ``redirect-gateway def1`` and ``keepalive PING_S PING_RESTART_S`` (the client then
    pings every PING_S and restarts after PING_RESTART_S of silence; the server itself
    drops a client after twice that)."""
    pool_end = topo.TUN_CLI.rsplit(".", 1)[0] + ".200"
    opts = ["--mode", "server", "--tls-server", "--port", str(PORT), "--local", topo.UP_VPN,
            "--cert", pki["server_cert"], "--key", pki["server_key"], "--dh", "none",
            "--ifconfig", topo.TUN_SRV, "255.255.255.0", "--ifconfig-pool", topo.TUN_CLI, pool_end,
            "--push", "topology subnet", "--push", f"route-gateway {topo.TUN_SRV}",
            "--push", "redirect-gateway def1" + (" ipv6" if ipv6 else ""),
            "--keepalive", str(PING_S), str(PING_RESTART_S)]
    if ipv6:
        opts += ["--ifconfig-ipv6", f"{topo.TUN6_SRV}/64", topo.TUN6_CLI,
                 "--ifconfig-ipv6-pool", f"{topo.TUN6_CLI}/64"]
    return opts


def client_options(pki, persist_tun=False):
    """The client: ``nobind``, the server's certificate checked by name and EKU, retries
    every CONNECT_RETRY_S after a restart; address, routes and timers are pulled.
    ``persist_tun`` keeps the tun device and its routes across restarts (a restart then
    black-holes traffic instead of letting it fall back to wlan0)."""
    opts = ["--client", "--remote", topo.UP_VPN, str(PORT), "--nobind",
            "--cert", pki["client_cert"], "--key", pki["client_key"],
            "--remote-cert-tls", "server", "--verify-x509-name", SERVER_NAME, "name",
            "--connect-retry", str(CONNECT_RETRY_S), str(CONNECT_RETRY_S),
            "--resolv-retry", "infinite"]
    if persist_tun:
        opts.append("--persist-tun")
    return opts


# routes `redirect-gateway def1 [ipv6]` makes OpenVPN 2.6 add on the tun device
REDIRECT_ROUTES4 = ("0.0.0.0/1", "128.0.0.0/1")
REDIRECT_ROUTES6 = ("::/3", "2000::/4", "3000::/4", "fc00::/7")


def routes_on(ns, dev):
    """The destinations of the routes on ``dev`` in ``ns`` (IPv4 and IPv6), as a set."""
    out = set()
    for family in ("-4", "-6"):
        text = topo.sh(["ip", "-n", ns, family, "-j", "route", "show", "dev", dev], check=False)
        out |= {r["dst"] for r in json.loads(text or "[]")} if text.strip() else set()
    return out


def link_exists(ns, dev):
    return subprocess.run(["ip", "-n", ns, "link", "show", "dev", dev], capture_output=True,
                          timeout=topo.CMD_TIMEOUT_S).returncode == 0


class OpenVPN:
    """One openvpn process of the run (server or client), started by PID through the
    lab's Procs; its log (``<name>.log``), stdout/stderr (``<name>.out``) and management
    socket (``<name>.sock``) live in the run's work directory."""

    def __init__(self, procs, name, ns, dev, workdir, pki, options):
        self.procs, self.name, self.ns, self.dev = procs, name, ns, dev
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.mgmt_path = os.path.join(workdir, f"{name}.sock")
        self.out_path = os.path.join(workdir, f"{name}.out")
        self.argv = _common(pki, dev, self.log_path, self.mgmt_path) + list(options)

    @property
    def proc(self):
        return self.procs.get(self.name)

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log_text(self, since=0):
        """The log from byte ``since`` on ("" before the process wrote it)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(since)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def start(self):
        """Start the process; returns the log offset its lines begin at."""
        try:                          # a killed process leaves its socket file behind
            os.unlink(self.mgmt_path)
        except FileNotFoundError:
            pass
        since = self.log_size()
        with open(self.out_path, "ab") as out:
            self.procs.start(self.name, self.argv, ns=self.ns, stdout=out, stderr=out)
        return since

    def wait_log(self, text, since, timeout_s, what):
        """Wait (bounded) for ``text`` in the log after byte ``since``; a process that
        exits meanwhile is an error quoting its last output."""
        proc = self.proc
        wait_for(lambda: text in self.log_text(since) or proc.poll() is not None,
                 timeout_s, f"openvpn {self.name}: {what}", interval_s=0.002)
        if text not in self.log_text(since):
            tail = (self.log_text(since) or open(self.out_path, errors="replace").read())
            raise KsauditError(f"lab: openvpn {self.name} exited with {proc.returncode} before "
                               f"{what}: {tail.strip().splitlines()[-1:]}")

    def connected(self, since):
        """True when the log after byte ``since`` ends connected: its last "Initialization
        Sequence Completed" comes after its last "process restarting" (a SIGUSR1, or a
        ping-restart while the link was down)."""
        text = self.log_text(since)
        return text.rfind(INIT_DONE) > text.rfind(RESTARTING)

    def wait_ready(self, since, routes, timeout_s=READY_TIMEOUT_S):
        """Wait (bounded) until `connected` after byte ``since`` and ``routes`` are on the
        tun device; a process that exits meanwhile is an error quoting its log."""
        proc = self.proc

        def ready():
            return self.connected(since) and set(routes) <= routes_on(self.ns, self.dev)

        wait_for(lambda: ready() or proc.poll() is not None, timeout_s,
                 f"openvpn {self.name} to connect with routes {', '.join(routes)} on {self.dev}",
                 interval_s=0.002)
        if proc.poll() is not None:
            raise KsauditError(f"lab: openvpn {self.name} exited with {proc.returncode}: "
                               f"{self.log_text().strip().splitlines()[-1:]}")

    def received_from(self):
        """Server side: {client's real address "host:port": bytes received from it} of
        every client in the management ``status`` list (counted as packets arrive)."""
        out = {}
        for line in self.command("status").splitlines():
            fields = line.strip().split(",")
            if len(fields) == 5 and fields[2].isdigit():   # CN, real address, rx, tx, since
                out[fields[1]] = int(fields[2])
        return out

    def kill(self):
        """SIGKILL by PID; returns the ``journal.now()`` pair taken just before it."""
        at = now()
        os.kill(self.proc.pid, signal.SIGKILL)
        return at

    def reap(self):
        """After `kill`: wait until the tun device is gone (the kernel removes it, and the
        routes on it, when the process's file closes), then reap the process.  Returns
        the ``journal.now()`` pair of the moment the device was seen gone."""
        wait_for(lambda: not link_exists(self.ns, self.dev), MGMT_TIMEOUT_S,
                 f"{self.dev} to disappear", interval_s=0.001)
        gone = now()
        self.proc.wait(timeout=MGMT_TIMEOUT_S)
        self.procs.forget(self.name)
        return gone

    def stop(self):
        """SIGTERM by PID (openvpn removes its routes, closes the tun device and logs
        "SIGTERM[hard,] received, process exiting"), bounded wait; returns the exit code."""
        return self.procs.stop(self.name, timeout_s=MGMT_TIMEOUT_S)

    def command(self, line, timeout_s=MGMT_TIMEOUT_S):
        """One management command (``state``, ``signal SIGUSR1``); returns its answer
        (up to ``END`` or the ``SUCCESS:`` / ``ERROR:`` line).  An ``ERROR:`` answer or a
        silent socket is a KsauditError."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout_s)
        try:
            sock.connect(self.mgmt_path)
            got = _read_until(sock, lambda b: b"\n" in b)          # the ">INFO:" banner
            sock.sendall(line.encode() + b"\n")
            got = _read_until(sock, lambda b: b"\r\nEND\r\n" in b or b"SUCCESS:" in b
                              or b"ERROR:" in b, start=got.partition(b"\n")[2])
        except OSError as exc:
            raise KsauditError(f"lab: openvpn {self.name} management {line!r}: {exc}")
        finally:
            sock.close()
        text = got.decode("utf-8", "replace")
        if "ERROR:" in text:
            raise KsauditError(f"lab: openvpn {self.name} management {line!r}: {text.strip()}")
        return text


def _read_until(sock, done, start=b""):
    buf = start
    end = time.monotonic() + MGMT_TIMEOUT_S
    while not done(buf):
        if time.monotonic() > end:
            raise socket.timeout("no complete answer")
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("management socket closed")
        buf += chunk
    return buf
