"""Classify every frame of the combined packet table with the rule that decided it.

Vectorised over the whole table: address tests run once per distinct address
(the categorical's categories) and are broadcast through the codes, so the cost
is a handful of numpy passes per frame, never Python per row.

Rules, first match wins (DESIGN.md "What counts as a leak"):

==================  =====================================================================
inside_tunnel       on a tunnel interface of the device
not_device          loopback, or (external vantage) neither sent by nor sent to the device
tunnel_transport    to/from a declared VPN endpoint (address, port, protocol; fragments
                    of such datagrams by address and protocol; ICMP/ICMPv6
                    destination-unreachable between the device and the endpoint
                    address, which answer the transport itself)
link_upkeep         link-layer control by a listed ethertype (ARP, LLDP, EAPOL, PPPoE
                    discovery, PPP control, ...), or DHCPv4/v6, ICMPv6 ND, MLD, IGMP
                    with an on-link peer (broadcast, link-local, link-scope multicast,
                    the device's private /24 or /64, ARP-resolved addresses)
lan_allowed         only with ``allow_lan``: to/from private, unique-local, link-local
                    and local-scope multicast addresses -- except DNS (53/853), which a
                    LAN resolver forwards outside the tunnel
scenario_rule       matched by a ``policy.allow`` rule
leak                anything else sent by the device
leak_reply          received by the device: reply to a leaked flow, or a DNS answer
inbound             received by the device, unsolicited (not a leak: the device sent nothing)
==================  =====================================================================

Which frames the device sent: at a device vantage point, the capture's direction
(``out``); where the direction is unknown, every frame not addressed to a device
address (fail closed).  At an external vantage point: source is a device address.

Link upkeep checks the peer, not only ports and types, and a frame that is not
decoded is never upkeep unless its ethertype is listed (fail closed: it is a leak,
category ``other``); the full rule and why: ``ksaudit.leaks.upkeep``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import pandas as pd

RULES = ("inside_tunnel", "not_device", "tunnel_transport", "link_upkeep", "lan_allowed",
         "scenario_rule", "leak", "leak_reply", "inbound")
CATEGORIES = ("ipv4", "ipv6", "dns", "other")
DNS_PORTS = (53, 853)
_LAN_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "224.0.0.0/4", "255.255.255.255/32", "fc00::/7", "fe80::/10"))
_LOOPBACK = tuple(ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128"))


@dataclass(frozen=True)
class DeviceAddresses:
    """The device's own addresses and how they were obtained."""
    addresses: tuple
    declared: bool
    statement: str


def _addr(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_lan(text) -> bool:
    """Private, unique-local, link-local, or local-scope multicast/broadcast."""
    a = _addr(text)
    if a is None:
        return False
    if a.version == 6 and a.is_multicast:
        return (a.packed[1] & 0x0F) <= 8          # scopes up to organisation-local
    return any(a in n for n in _LAN_NETS if n.version == a.version)


def _in_nets(nets):
    def test(text):
        a = _addr(text)
        return a is not None and any(a.version == n.version and a in n for n in nets)
    return test


def cat_test(series: pd.Series, func) -> np.ndarray:
    """Apply `func(text) -> bool` once per distinct value; broadcast to every row."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype("category")
    cats = series.cat.categories
    table = np.fromiter((bool(func(str(c))) for c in cats), bool, len(cats))
    table = np.append(table, False)                  # code -1 (missing) -> False
    return table[series.cat.codes.to_numpy()]


def _isin(series: pd.Series, values) -> np.ndarray:
    values = set(values)
    return cat_test(series, lambda v: v in values)


def device_vantage_mask(packets: pd.DataFrame, vantages) -> np.ndarray:
    """True for rows whose capture (column ``capture``, index into `vantages`) is a device vantage."""
    dev = np.array([v == "device" for v in vantages] + [False])
    cap = packets["capture"].to_numpy()
    return dev[np.where((cap >= 0) & (cap < len(vantages)), cap, len(vantages))]


def _endpoint_match(packets, endpoints, remote_col, port_col, unreachable=False):
    """Rows whose `remote_col` address is in an endpoint's network and port/proto match
    (with `unreachable`, also ICMP/ICMPv6 destination-unreachable to/from that address)."""
    proto = packets["proto"].to_numpy()
    port = packets[port_col].to_numpy()
    frag = packets["fragment"].to_numpy() if "fragment" in packets else np.zeros(len(proto), bool)
    icmp_err = np.zeros(len(proto), bool)
    if unreachable:
        itype = packets["icmp_type"].to_numpy()
        icmp_err = ((proto == 1) & (itype == 3)) | ((proto == 58) & (itype == 1))
    hit = np.zeros(len(packets), bool)
    for ep in endpoints:
        m = np.ones(len(packets), bool)
        if ep.network is not None:
            m &= cat_test(packets[remote_col], _in_nets((ep.network,)))
        if ep.proto is not None or ep.port is not None:
            tp = np.ones(len(packets), bool)
            if ep.proto is not None:
                tp &= proto == ep.proto
            if ep.port is not None:
                tp &= (port == ep.port) | (frag & (port < 0))
            m &= tp | icmp_err
        hit |= m
    return hit


def values_where(series: pd.Series, mask) -> set:
    """The distinct text values of a categorical column in the rows of `mask`."""
    codes = series.cat.codes.to_numpy()[mask]
    used = np.unique(codes[codes >= 0])
    return {str(series.cat.categories[c]) for c in used}


def infer_device_addresses(packets, scenario, dev_vantage) -> DeviceAddresses:
    """The device's addresses: declared, else inferred from the captures.

    Inferred: sources of outgoing frames at device vantage points (any interface
    but loopback), plus the near side of traffic with a declared VPN endpoint.
    Declared addresses are completed (fail closed: a device that changed its
    address must not hide its leaks at an external vantage point) by the sources
    of outgoing frames at device vantage points."""
    bad = {"", "0.0.0.0", "::"}
    loop = _in_nets(_LOOPBACK)

    def clean(values):
        return {a for a in set(values) - bad if _addr(a) and not loop(a)}

    def ordered(values):
        return tuple(sorted(values, key=lambda a: (_addr(a).version, _addr(a))))

    out = dev_vantage & _isin(packets["direction"], ("out",))
    from_out = clean(packets["src"][out].unique().astype(str)) if out.any() else set()
    if scenario.addresses:
        declared = {str(ipaddress.ip_address(a)) for a in scenario.addresses}
        extra = ordered(from_out - declared)
        statement = "device addresses declared in scenario.yaml" + (
            f"; also seen sending at device vantage points: {', '.join(extra)}" if extra else "")
        return DeviceAddresses(ordered(declared | set(extra)), True, statement)
    to_ep = _endpoint_match(packets, scenario.endpoints, "dst", "dport")
    from_ep = _endpoint_match(packets, scenario.endpoints, "src", "sport")
    via_ep = clean(set(packets["src"][to_ep].unique().astype(str))
                   | set(packets["dst"][from_ep].unique().astype(str)))
    addrs = ordered(from_out | via_ep)
    parts = []
    if from_out:
        parts.append(f"{len(from_out)} from outgoing frames at device vantage points")
    if via_ep:
        parts.append(f"{len(via_ep)} from traffic with the VPN endpoint")
    statement = ("device addresses inferred (" + "; ".join(parts) + "): " + ", ".join(addrs)
                 if addrs else "device addresses could not be inferred (no outgoing frames "
                 "with a known direction, no traffic with the VPN endpoint)")
    return DeviceAddresses(addrs, False, statement)


def sent_and_received(packets, vantages, device) -> tuple:
    """(from_dev, to_dev): frames the device sent, frames it received (module docstring)."""
    dev_v = device_vantage_mask(packets, vantages)
    src_dev = _isin(packets["src"], device.addresses)
    dst_dev = _isin(packets["dst"], device.addresses)
    out_known = dev_v & _isin(packets["direction"], ("out",))
    in_known = dev_v & _isin(packets["direction"], ("in",))
    unknown = dev_v & ~out_known & ~in_known
    from_dev = out_known | (unknown & (src_dev | ~dst_dev)) | (~dev_v & src_dev)
    to_dev = ~from_dev & (in_known | unknown | (~dev_v & dst_dev))
    return from_dev, to_dev


def allow_match(packets, rule, from_dev, to_dev) -> np.ndarray:
    """Frames a ``policy.allow`` rule matches (the far end in its network; its
    protocol; its port at either end)."""
    m = np.ones(len(packets), bool)
    if rule.network is not None:
        test = _in_nets((rule.network,))
        m &= (from_dev & cat_test(packets["dst"], test)) | (to_dev & cat_test(packets["src"], test))
    if rule.proto is not None:
        m &= packets["proto"].to_numpy() == rule.proto
    if rule.port is not None:
        m &= (packets["sport"].to_numpy() == rule.port) | (packets["dport"].to_numpy() == rule.port)
    return m


def endpoint_match(packets, endpoints, from_dev, to_dev) -> np.ndarray:
    """Frames between the device and one of `endpoints` (the tunnel_transport test)."""
    return (from_dev & _endpoint_match(packets, endpoints, "dst", "dport", True)) | \
        (to_dev & _endpoint_match(packets, endpoints, "src", "sport", True))


def classify(packets: pd.DataFrame, scenario, vantages, device: DeviceAddresses):
    """Decide every frame's rule and, for leaks and replies, its category.

    Parameters
    ----------
    packets : DataFrame
        The combined packet table (PACKET_COLUMNS plus ``capture``, the index of
        the frame's capture in `vantages`).
    scenario : Scenario
    vantages : sequence of str
        ``"device"`` or ``"external"`` per capture.
    device : DeviceAddresses

    Returns
    -------
    (rule, category) : two pandas Categoricals aligned with `packets`;
        category is ``""`` for frames that are neither leaks nor replies.
    """
    n = len(packets)
    dev_v = device_vantage_mask(packets, vantages)
    from_dev, to_dev = sent_and_received(packets, vantages, device)

    proto = packets["proto"].to_numpy()
    sport = packets["sport"].to_numpy()
    dport = packets["dport"].to_numpy()
    ipv = packets["ip_version"].to_numpy()
    tunnel = dev_v & _isin(packets["iface"], scenario.tunnel_interfaces)
    loop_test = _in_nets(_LOOPBACK)
    loop = _isin(packets["iface"], ("lo",)) | cat_test(packets["src"], loop_test) | \
        cat_test(packets["dst"], loop_test)
    transport = endpoint_match(packets, scenario.endpoints, from_dev, to_dev)
    from ksaudit.leaks.upkeep import link_upkeep      # (it uses this module's helpers)
    upkeep = link_upkeep(packets, device, tunnel, from_dev, to_dev)
    tcp_udp = (proto == 6) | (proto == 17)
    dns_out = tcp_udp & np.isin(dport, DNS_PORTS)
    dns_in = tcp_udp & np.isin(sport, DNS_PORTS)
    if scenario.allow_lan:
        lan = (from_dev & cat_test(packets["dst"], is_lan) & ~dns_out) | \
              (to_dev & cat_test(packets["src"], is_lan) & ~dns_in)
    else:
        lan = np.zeros(n, bool)
    rule_hit = np.zeros(n, bool)
    for r in scenario.allow:
        rule_hit |= allow_match(packets, r, from_dev, to_dev)

    code = np.full(n, -1, np.int8)

    def assign(mask, name):
        free = (code < 0) & mask
        code[free] = RULES.index(name)

    assign(tunnel, "inside_tunnel")
    assign(loop, "not_device")
    assign(~from_dev & ~to_dev, "not_device")
    assign(transport, "tunnel_transport")
    assign(upkeep, "link_upkeep")
    assign(lan, "lan_allowed")
    assign(rule_hit, "scenario_rule")
    assign(from_dev, "leak")
    leak = code == RULES.index("leak")
    cand = (code < 0) & to_dev
    reply = cand & (dns_in | _reply_to(packets, leak, cand))
    assign(reply, "leak_reply")
    assign(to_dev, "inbound")
    assign(np.ones(n, bool), "not_device")

    is_leak = (code == RULES.index("leak")) | (code == RULES.index("leak_reply"))
    cat = np.full(n, 4, np.int8)                     # 4 -> "" (not a leak)
    cat[is_leak & (ipv == 4)] = 0
    cat[is_leak & (ipv == 6)] = 1
    cat[is_leak & (dns_out | dns_in)] = 2
    cat[is_leak & (ipv != 4) & (ipv != 6)] = 3
    rule = pd.Categorical.from_codes(code, categories=list(RULES))
    category = pd.Categorical.from_codes(cat, categories=[*CATEGORIES, ""])
    return rule, category


def _flow_keys(packets, rows, reverse):
    a, b = ("dst", "src") if reverse else ("src", "dst")
    pa, pb = ("dport", "sport") if reverse else ("sport", "dport")
    return pd.MultiIndex.from_arrays([
        packets[a].iloc[rows].astype(str).to_numpy(), packets[b].iloc[rows].astype(str).to_numpy(),
        packets["proto"].to_numpy()[rows], packets[pa].to_numpy()[rows],
        packets[pb].to_numpy()[rows]])


def _reply_to(packets, leak, cand) -> np.ndarray:
    """Candidates whose reversed 5-tuple is that of a leaked frame (ICMP: addresses)."""
    out = np.zeros(len(packets), bool)
    if not leak.any() or not cand.any():
        return out
    li, ci = np.flatnonzero(leak), np.flatnonzero(cand)
    out[ci] = _flow_keys(packets, ci, False).isin(_flow_keys(packets, li, True))
    return out
