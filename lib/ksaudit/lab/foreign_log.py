"""The system log of another rig: a plain text syslog file in the rig's own words.

The foreign rig (``ksaudit lab run --rig foreign``) is not ksaudit's harness: its VPN
app is ``vpnagent`` (it supervises wireguard-go, no systemd unit), Wi-Fi is
``wpa_supplicant`` + ``dhclient`` (no NetworkManager), sleep is logged by
``systemd-sleep``, and the file is what rsyslog writes, in the rig's local time zone:

- ``rfc3164`` (rsyslog's traditional file format, 1 s, no year, no zone)::

    Dec  1 22:40:02 rig-b-dut vpnagent[4242]: session: connected to 198.51.100.2:51820 via wg0 (connected)

- ``short-iso-precise`` (``journalctl -o short-iso-precise``, µs, with the offset)::

    2026-12-01T22:40:02.123456+01:00 rig-b-dut vpnagent[4242]: session: connected to ...

`ForeignLog` has the method set of `journal.Journal` (the client and the events call
either the same way) and says each of the lab's state changes in this rig's wording
(`agent_words`); kernel lines keep the kernel's own words, after the kernel's
``[seconds.micros]`` monotonic stamp.
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from ksaudit.lab.journal import SuspendClock

HOSTNAME = "rig-b-dut"
AGENT = "vpnagent"
STYLES = ("rfc3164", "short-iso-precise")
WPA_PID, DHCLIENT_PID, SLEEP_PID = 811, 902, 4021
BSSID = "02:00:5e:00:53:01"

# the lab client's messages (clients/harness.py, clients/base.py, events.py) -> the foreign agent's own wording
_AGENT_WORDS = (
    (re.compile(r"^tunnel up \((?P<why>[^;]*); handshake with (?P<ep>\S+) completed; dev (?P<dev>\S+)\)$"),
     "session: connected to {ep} via {dev} ({why})"),
    (re.compile(r"^tunnel down \(wireguard-go exited: (?P<how>[^;]*); dev (?P<dev>\S+)\)$"),
     "session: down on {dev} (data plane gone: {how})"),
    (re.compile(r"^tunnel down \((?P<why>[^;]*); dev (?P<dev>\S+)\)$"),
     "session: down on {dev} ({why})"),
    (re.compile(r"^firewall engaged \(.*; (?P<why>[^;]*)\)$"), "lockdown: ON ({why})"),
    (re.compile(r"^firewall released \((?P<why>.*)\)$"), "lockdown: OFF ({why})"),
    (re.compile(r"^resumed from suspend; reconnecting$"), "power: resume detected, reconnecting"),
    (re.compile(r"^Started \S+\.service - WireGuard data plane \((?P<dev>\S+)\)\.$"),
     "supervisor: wireguard-go running for {dev}"),
    (re.compile(r"^\S+\.service: Main process exited, code=killed, status=9/KILL$"),
     "supervisor: wireguard-go terminated by SIGKILL"),
)

# what a user of this rig writes in scenario.yaml `rules:` for the lines ksaudit's shipped
# table does not know (the agent, wpa_supplicant, dhclient)
USER_RULES = (
    {"name": "vpnagent-connected", "kind": "tunnel_up", "identifier": AGENT,
     "regex": r"^session: connected to \S+ via (?P<iface>\S+)"},
    {"name": "vpnagent-down", "kind": "tunnel_down", "identifier": AGENT,
     "regex": r"^session: down on (?P<iface>\S+)"},
    {"name": "vpnagent-wg-terminated", "kind": "process_exit", "identifier": AGENT,
     "regex": r"^supervisor: wireguard-go terminated"},
    {"name": "vpnagent-wg-running", "kind": "process_start", "identifier": AGENT,
     "regex": r"^supervisor: wireguard-go running"},
    {"name": "vpnagent-lockdown-on", "kind": "firewall_block", "identifier": AGENT,
     "regex": r"^lockdown: ON\b"},
    {"name": "vpnagent-lockdown-off", "kind": "firewall_release", "identifier": AGENT,
     "regex": r"^lockdown: OFF\b"},
    {"name": "wpa-disconnected", "kind": "link_down", "identifier": "wpa_supplicant",
     "regex": r"^(?P<iface>\S+): CTRL-EVENT-DISCONNECTED\b"},
    {"name": "wpa-connected", "kind": "link_up", "identifier": "wpa_supplicant",
     "regex": r"^(?P<iface>\S+): CTRL-EVENT-CONNECTED\b"},
    {"name": "dhclient-bound", "kind": "network_change", "identifier": "dhclient",
     "regex": r"^bound to \S+"},
)


def agent_words(message):
    """The foreign agent's line for one of the lab client's messages (ValueError if the
    lab says something this rig has no words for: add it to ``_AGENT_WORDS``)."""
    for rx, fmt in _AGENT_WORDS:
        m = rx.match(message)
        if m:
            return fmt.format(**m.groupdict())
    raise ValueError(f"foreign rig: no wording for {message!r}")


class ForeignLog(SuspendClock):
    """Appends syslog text lines (``style`` one of STYLES) in time zone ``tz``."""

    def __init__(self, path, client_pid, style="rfc3164", tz="Europe/Berlin"):
        if style not in STYLES:
            raise ValueError(f"foreign log style must be one of {STYLES}, got {style!r}")
        self.path, self.client_pid, self.style = path, client_pid, style
        self.zone = ZoneInfo(tz)
        self._fh = open(path, "a", buffering=1, encoding="utf-8")

    def close(self):
        self._fh.close()

    def _stamp(self, ts_ns):
        local = datetime.fromtimestamp(ts_ns // 10**9, self.zone)
        if self.style == "rfc3164":
            return f"{local:%b} {local.day:>2} {local:%H:%M:%S}"
        off = local.strftime("%z")
        return f"{local:%Y-%m-%dT%H:%M:%S}.{(ts_ns // 1000) % 10**6:06d}{off[:3]}:{off[3:]}"

    def write(self, ts_ns, mono_ns, ident, message, pid=None, priority=6, kernel=False):
        """One line stamped with the source time ``ts_ns`` (rsyslog keeps the sender's)."""
        tag = ident if pid is None else f"{ident}[{pid}]"
        if kernel:
            mono_us = (mono_ns - self.suspended_ns) // 1000
            message = f"[{mono_us // 10**6:>5}.{mono_us % 10**6:06d}] {message}"
        self._fh.write(f"{self._stamp(ts_ns)} {HOSTNAME} {tag}: {message}\n")

    # --- the sources, as journal.Journal names them ----------------------------------
    def nm_device(self, ts_ns, mono_ns, device, old, new, reason):
        """No NetworkManager here: Wi-Fi state is wpa_supplicant's, the tunnel the agent's."""
        if device == "wlan0" and new == "unavailable":
            code = 3 if reason == "sleeping" else 4
            self.write(ts_ns, mono_ns, "wpa_supplicant",
                       f"wlan0: CTRL-EVENT-DISCONNECTED bssid={BSSID} reason={code}", WPA_PID)
        elif device == "wlan0" and new == "activated":
            self.write(ts_ns, mono_ns, "wpa_supplicant",
                       f"wlan0: CTRL-EVENT-CONNECTED - Connection to {BSSID} completed [id=0 id_str=]",
                       WPA_PID)
        elif new == "prepare":
            self.write(ts_ns, mono_ns, AGENT, f"session: connecting via {device}", self.client_pid)

    def nm(self, ts_ns, mono_ns, text):
        m = re.search(r"new lease, address=(\S+)", text)
        if m:
            self.write(ts_ns, mono_ns, "dhclient", f"bound to {m.group(1)} -- renewal in 1800 "
                                                   "seconds.", DHCLIENT_PID)

    def kernel(self, ts_ns, mono_ns, message):
        self.write(ts_ns, mono_ns, "kernel", message, kernel=True)

    def client(self, ts_ns, mono_ns, message, priority=6):
        self.write(ts_ns, mono_ns, AGENT, agent_words(message), self.client_pid)

    def systemd(self, ts_ns, mono_ns, message):
        self.write(ts_ns, mono_ns, AGENT, agent_words(message), self.client_pid)

    def logind(self, ts_ns, mono_ns, message):
        self.write(ts_ns, mono_ns, "systemd-sleep", "Entering sleep state 'suspend'...", SLEEP_PID)

    def agent(self, ts_ns, mono_ns, message):
        """A line of the agent's own that the lab's client has no counterpart for."""
        self.write(ts_ns, mono_ns, AGENT, message, self.client_pid)

