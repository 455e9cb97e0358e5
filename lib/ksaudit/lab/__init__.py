"""The kill-switch lab: real tunnel-down captures with independent ground truth.

Network namespaces made by the lab only (``ksaudit-lab-<id>-dev|rtr|vpn``), a real
WireGuard tunnel (``wireguard-go``, userspace), real nftables kill-switch rules, real
``tcpdump`` captures, and a sink on the "internet" host that records every probe that
arrives and from which address.  See docs/lab.md.

Modules: ``topology`` (namespaces, veths, addresses, cleanup), ``procs`` (processes by
PID), ``wireguard`` (keys, daemons, handshakes), ``openvpn`` (PKI, command lines,
processes), ``firewall`` (nftables rulesets per
policy), ``clients`` (the VPN clients: the harness, real ones from client files),
``events`` (the events), ``journal`` (journald-JSON
writer), ``probe`` / ``sink`` (traffic generator and receiver), ``capture`` (tcpdump),
``truth`` (lab-truth.json), ``runner`` (one scenario run), ``samples`` (the bundled
sample build), ``cli`` (``ksaudit lab``); another rig's evidence (``--rig foreign``):
``foreign`` (its file names and scenario.yaml), ``foreign_log`` (its syslog and wording),
``daemon`` (wireguard-go daemonized, tracked by PID).
"""

EVENTS = ("wifi-yank", "process-kill", "sleep-wake", "network-change", "reconnect", "flapping",
          "boot", "disconnect")
POLICIES = ("none", "app-level", "weak-reconnect", "fail-open-sleep", "ipv4-only", "strong",
            "client")     # client: the client's own protection (clients/, docs/lab.md "Clients")
