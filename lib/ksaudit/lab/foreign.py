"""Another rig's scenario directory: its file names and a scenario.yaml as a user writes it.

The foreign rig (``--rig foreign``, docs/lab.md "Another rig") keeps the lab's
topology, kill-switch policies and events, but writes its evidence the way an
independent harness would: a text syslog in its own words (`foreign_log`), wireguard-go
daemonized with its banner (`wireguard.start_detached`), µs pcaps under its own names,
local time (``Europe/Berlin``), and a scenario.yaml that leaves every default alone,
reads logs with ``format: auto``, declares no drop counts, no device addresses, no
clock offsets and no ``vpn.processes``, and brings ``rules:`` for the lines ksaudit's
shipped rule table does not know.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from ksaudit.lab import events as ev, topology as topo
from ksaudit.lab.foreign_log import USER_RULES

TIMEZONE = "Europe/Berlin"
DEVICE_PCAP, EXTERNAL_PCAP = "client-any.pcap", "uplink-lan0.pcap"
SYSTEM_LOGS = {"rfc3164": "logs/syslog", "short-iso-precise": "logs/journal.txt"}
WG_LOG = "logs/wireguard-go.log"
PROBE_LOG = "logs/probes.jsonl"
# the run's ending: the traffic generator stops, the client is stopped STOP_PAUSE_S later
# (more than the syslog's 1 s, so its lines cannot reach back into the probes' span), and
# the captures run CAPTURE_TAIL_S past that
STOP_PAUSE_S, CAPTURE_TAIL_S = 1.2, 0.5


def scenario_yaml(opts, build, names, client, started_ns):
    """The foreign rig's scenario.yaml document (a dict, in the order a user writes it).
    The RFC 3164 syslog's lines carry no year: the user declares the run's (local) year."""
    year = datetime.fromtimestamp(started_ns // 10**9, ZoneInfo(TIMEZONE)).year
    system = {"file": SYSTEM_LOGS[opts.system_log], "format": "auto", "timezone": TIMEZONE}
    if opts.system_log == "rfc3164":      # no year in its lines: the user says which
        system["year"] = year
    logs = [system,
            {"file": WG_LOG, "format": "auto", "timezone": TIMEZONE}]
    if opts.probes:
        logs.append({"file": PROBE_LOG, "format": "auto"})
    return {
        "build": build,
        "scenario": ev.SCENARIO_KIND[opts.event],
        "description": opts.description or (f"rig B, vpnagent with wireguard-go; {opts.event}, "
                                             f"kill switch '{opts.policy}'"),
        "device": {"tunnel_interfaces": [names.wg_client],
                   **({"physical_interfaces": ["wlan0", "eth0"]}
                      if opts.event == "network-change" else {}),
                   # from the rig's `ip -o link` notes (the tunnel is re-created on restart)
                   "ifindex": dict(sorted(client.ifindex.items()))},
        "vpn": {"endpoints": [f"{topo.UP_VPN}:{topo.WG_PORT}/udp"],
                **({"blocks_when_disconnected": opts.blocks_when_disconnected}
                   if opts.event == "disconnect" else {})},
        **({"policy": {"allow_lan": True}} if opts.allow_lan else {}),
        "captures": [{"file": DEVICE_PCAP}, {"file": EXTERNAL_PCAP, "vantage": "external"}],
        "logs": logs,
        "rules": [dict(r) for r in USER_RULES],
    }
