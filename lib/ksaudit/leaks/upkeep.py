"""Link upkeep: the frames that keep the device's link up, and only with a peer on the link.

Link upkeep is this, and only this (fail closed: whatever is not listed, or not
decoded, is judged like any other frame, so a frame the device sent is a leak,
category ``other`` when it is not IP):

- non-IP frames by ethertype, protocols that end at the first hop and cannot carry
  IP: ARP (0x0806), RARP (0x8035), LLDP (0x88CC), EAPOL / 802.1X and the WPA key
  handshake (0x888E), 802.11 pre-authentication (0x88C7), PPPoE discovery (0x8863),
  Ethernet flow control and slow protocols (0x8808, 0x8809: LACP, OAM); and PPP's own
  control protocols inside a PPPoE session (PPP protocol >= 0x8000: LCP echo, IPCP,
  IPV6CP, PAP, CHAP; RFC 1661 section 2).  IP inside a PPPoE session, an MPLS label
  stack or cleartext MACsec is decoded (``ksaudit.pcap.decode``) and judged by its inner
  addresses; encrypted MACsec (0x88E5) and vendor ethertypes are not decoded and not
  listed, so a device that sends them is flagged (docs/encapsulation.md).
  802.3 length-field frames (LLC: STP, CDP, SNAP, which can carry IP) are not decoded,
  so a device that sends them is flagged for a person to look at.
- IP upkeep protocols, with the peer (the destination of a frame the device sent,
  the source of one it received, or for a received frame a multicast/broadcast
  destination) on the link: DHCPv4 (UDP 67/68 both ends), DHCPv6 (546/547, also to
  site-scope multicast such as ff05::1:3), ICMPv6 neighbour discovery (RS, RA, NS, NA,
  redirect), MLD (to any multicast group, as MLDv1 reports are), IGMP over IPv4 (to
  any multicast group).  A port or a type alone proves nothing: a UDP 68->67 datagram
  to an internet host, or a neighbour solicitation to a global address off the link,
  goes through the router like any packet.

"On the link" is decided from the evidence, conservatively (a peer wrongly taken
for off-link makes a frame a leak, never the reverse): the limited broadcast
255.255.255.255; IPv4 link-local 169.254.0.0/16 and IPv6 fe80::/10; link-local
multicast (224.0.0.0/24, IPv6 scopes 1-2); the /24 of each private (RFC 1918) IPv4
address of the device and the /64 of each non-link-local IPv6 address of the device
(the usual on-link prefix; a device address seen only inside a tunnel interface is
the tunnel's, and gives no prefix); and every IPv4 address named in an ARP frame of
the captures (an address resolved at layer 2 is on the link).  So a DHCP renewal
unicast to the LAN's DHCP server (same private /24, or ARP-resolved) is upkeep.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from ksaudit.leaks.classify import _addr, cat_test, values_where

_MLD = (130, 131, 132, 143)
_ND = (133, 134, 135, 136, 137)
LINK_ETHERTYPES = {0x0806: "ARP", 0x8035: "RARP", 0x88CC: "LLDP", 0x888E: "EAPOL",
                   0x88C7: "802.11 pre-authentication", 0x8863: "PPPoE discovery",
                   0x8808: "Ethernet flow control", 0x8809: "slow protocols (LACP, OAM)"}
PPP_CONTROL_MIN = 0x8000          # RFC 1661: 0x8000-0xffff are PPP's control protocols
_ON_LINK_NETS = tuple(ipaddress.ip_network(n) for n in (
    "255.255.255.255/32", "169.254.0.0/16", "224.0.0.0/24", "fe80::/10"))
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                   "192.168.0.0/16"))


def link_prefixes(packets, device, tunnel) -> tuple:
    """The device's on-link networks: the /24 of each private IPv4 address, the /64 of
    each other non-link-local IPv6 unicast address, leaving out addresses seen only
    inside a tunnel interface (the tunnel's own)."""
    inside = values_where(packets["src"], tunnel) | values_where(packets["dst"], tunnel)
    outside = values_where(packets["src"], ~tunnel) | values_where(packets["dst"], ~tunnel)
    nets = []
    for text in device.addresses:
        a = _addr(text)
        if a is None or (text in inside and text not in outside):
            continue
        if a.version == 4 and any(a in n for n in _RFC1918):
            nets.append(ipaddress.ip_network(f"{a}/24", strict=False))
        elif a.version == 6 and not (a.is_link_local or a.is_multicast or a.is_loopback
                                     or a.is_unspecified):
            nets.append(ipaddress.ip_network(f"{a}/64", strict=False))
    return tuple(dict.fromkeys(nets))


def on_link_test(packets, device, tunnel):
    """`test(text) -> bool`: is the address on the device's link (module docstring)."""
    nets = link_prefixes(packets, device, tunnel)
    arp = packets["arp"].to_numpy().astype(bool)
    resolved = (values_where(packets["src"], arp) | values_where(packets["dst"], arp)) - \
        {"", "0.0.0.0"}

    def test(text):
        a = _addr(text)
        if a is None:
            return False
        if text in resolved or any(a.version == n.version and a in n
                                   for n in _ON_LINK_NETS + nets):
            return True
        return a.version == 6 and a.is_multicast and (a.packed[1] & 0x0F) <= 2
    return test


def _group(text) -> bool:
    a = _addr(text)
    return a is not None and (a.is_multicast or text == "255.255.255.255")


def _site_multicast(text) -> bool:
    a = _addr(text)
    return a is not None and a.version == 6 and a.is_multicast and (a.packed[1] & 0x0F) <= 5


def link_upkeep(packets, device, tunnel, from_dev, to_dev) -> np.ndarray:
    """Frames that keep the link up (module docstring): link control by ethertype, or
    an upkeep protocol with an on-link peer."""
    n = len(packets)
    proto = packets["proto"].to_numpy()
    sport, dport = packets["sport"].to_numpy(), packets["dport"].to_numpy()
    ipv, ether = packets["ip_version"].to_numpy(), packets["ethertype"].to_numpy()
    itype = packets["icmp_type"].to_numpy()
    ppp = packets["ppp_proto"].to_numpy() if "ppp_proto" in packets else np.full(n, -1)
    control = (ipv == 0) & (packets["arp"].to_numpy().astype(bool)
                            | np.isin(ether, list(LINK_ETHERTYPES))
                            | ((ether == 0x8864) & (ppp >= PPP_CONTROL_MIN)))
    on_link = on_link_test(packets, device, tunnel)
    group = cat_test(packets["dst"], _group)
    peer = (from_dev & cat_test(packets["dst"], on_link)) | \
        (to_dev & (cat_test(packets["src"], on_link) | group))
    sent_group = from_dev & group & (ipv > 0)
    udp = proto == 17
    dhcp4 = (ipv == 4) & udp & np.isin(sport, (67, 68)) & np.isin(dport, (67, 68))
    dhcp6 = (ipv == 6) & udp & np.isin(sport, (546, 547)) & np.isin(dport, (546, 547))
    igmp = (ipv == 4) & (proto == 2)
    icmp6 = (ipv == 6) & (proto == 58)
    mld, nd = icmp6 & np.isin(itype, _MLD), icmp6 & np.isin(itype, _ND)
    site = from_dev & cat_test(packets["dst"], _site_multicast)
    return control | ((dhcp4 | nd) & peer) | ((igmp | mld) & (peer | sent_group)) | \
        (dhcp6 & (peer | site))
