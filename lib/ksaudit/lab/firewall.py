"""The device's kill-switch rules (nftables, inside the device namespace only).

One ruleset per policy family: ``inet`` (IPv4 and IPv6) for every firewall policy
except ``ipv4-only``, which loads the same rules in an ``ip`` table and so lets IPv6
escape.  Output policy is ``drop``: a blocked ``sendto`` fails with EPERM.  ARP is
not seen by ``inet`` tables (it has its own family), so link upkeep needs no rule for
it; IPv6 neighbour discovery, router solicitation and MLD are allowed explicitly.
"""

from ksaudit.lab import topology as topo

TABLE = "ksaudit_killswitch"
FIREWALL_POLICIES = ("app-level", "weak-reconnect", "fail-open-sleep", "ipv4-only", "strong")


WG_ENDPOINT = (topo.UP_VPN, topo.WG_PORT, "udp")


def ruleset(policy, wg_ifname, allow_lan, endpoint=WG_ENDPOINT):
    """nft script text that loads the kill switch of ``policy`` (None for ``none`` and
    ``client``); ``endpoint`` (addr, port, proto) is the VPN server the tunnel reaches."""
    if policy not in FIREWALL_POLICIES:
        return None
    family = "ip" if policy == "ipv4-only" else "inet"
    rules = [
        'oifname "lo" accept',
        f'oifname "{wg_ifname}" accept',
        f"ip daddr {endpoint[0]} {endpoint[2]} dport {endpoint[1]} accept",
        "udp sport 68 udp dport 67 accept",
    ]
    if family == "inet":
        rules.append("icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, "
                     "mld-listener-report, mld2-listener-report } accept")
        rules.append("udp dport 547 accept")
    if allow_lan:
        # the LAN escape valve, minus DNS: a LAN resolver forwards names outside the tunnel
        rules.append("udp dport { 53, 853 } drop")
        rules.append("tcp dport { 53, 853 } drop")
        rules.append("ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16 } accept")
        if family == "inet":
            rules.append("ip6 daddr { fc00::/7, fe80::/10 } accept")
    body = "\n".join(f"    {r}" for r in rules)
    return (f"table {family} {TABLE} {{\n  chain output {{\n"
            f"    type filter hook output priority 0; policy drop;\n{body}\n  }}\n}}\n")


def engage(ns, policy, wg_ifname, allow_lan, endpoint=WG_ENDPOINT):
    """Load the policy's ruleset in ``ns`` (replacing an earlier copy); no-op for ``none``."""
    text = ruleset(policy, wg_ifname, allow_lan, endpoint)
    if text is None:
        return False
    release(ns, policy)
    topo.sh(["nft", "-f", "-"], ns=ns, input_text=text)
    return True


def release(ns, policy):
    """Delete the policy's table from ``ns`` if present."""
    family = "ip" if policy == "ipv4-only" else "inet"
    topo.sh(["nft", "delete", "table", family, TABLE], ns=ns, check=False)
