"""Tunnel handshakes found by their message headers (leaks.handshakes), on frames built
with scapy behind Ethernet, VLAN and PPPoE, and a handshake response that fixes an
OpenVPN episode's end."""

import struct

import numpy as np
from scapy.all import IP, TCP, UDP, Dot1Q, Ether, IPv6, Raw
from scapy.layers.ppp import PPP, PPPoE

from ksaudit import analyze
from ksaudit.leaks import handshakes as hs
from ksaudit.pcap import read_packets
from leak_builder import DEV4, ENDPOINT, MS, T0, TUN4, SINK

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
SID = bytes(range(1, 9))
OVPN_CLIENT = bytes([7 << 3]) + SID + b"\0" + b"\0\0\0\0"                      # 14 bytes
OVPN_CLIENT3 = bytes([10 << 3]) + SID + b"\0" + b"\0\0\0\0" + b"k" * 300       # + wrapped key
OVPN_SERVER = bytes([8 << 3]) + SID + b"\x01" + b"\0\0\0\0" + SID + b"\0\0\0\0"  # 26 bytes


def _pcapgen():
    """tests/pcap/pcapgen.py (the capture writer of the pcap tests)."""
    import importlib.util
    import pathlib
    spec = importlib.util.spec_from_file_location(
        "pcapgen_hs", pathlib.Path(__file__).parents[1] / "pcap" / "pcapgen.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def _eth(l3):
    return Ether(**MAC) / l3


def _udp(payload, sport=51000, dport=51820, v6=False):
    ip = IPv6(src="fd00::2", dst="2001:db8::1") if v6 else IP(src=DEV4, dst=ENDPOINT[0])
    return ip / UDP(sport=sport, dport=dport) / Raw(payload)


def _tcp(payload):
    return IP(src=DEV4, dst=ENDPOINT[0]) / TCP(sport=51000, dport=1194, flags="PA") / Raw(payload)


CASES = [   # (frame, expected kind)
    (_eth(_udp(b"\x01\0\0\0" + b"i" * 144)), hs.WG_INIT),
    (Ether(**MAC) / Dot1Q(vlan=10) / _udp(b"\x02\0\0\0" + b"r" * 88), hs.WG_RESP),
    (Ether(**MAC) / PPPoE(sessionid=4) / PPP(proto=0x0021) / _udp(b"\x03\0\0\0" + b"c" * 60),
     hs.WG_COOKIE),
    (Ether(**MAC) / PPPoE(sessionid=4) / PPP(proto=0x0057) / _udp(b"\x02\0\0\0" + b"r" * 88,
                                                                   v6=True), hs.WG_RESP),
    (_eth(_udp(b"\x04\0\0\0" + b"d" * 144)), hs.NONE),          # transport data, 148 bytes
    (_eth(_udp(b"\x02\0\x01\0" + b"r" * 88)), hs.NONE),          # reserved bytes not zero
    (_eth(_udp(b"\x01\0\0\0" + b"i" * 100)), hs.NONE),          # type 1, wrong size
    (_eth(_udp(OVPN_CLIENT, dport=1194)), hs.OVPN_INIT2),
    (Ether(**MAC) / Dot1Q(vlan=10) / _udp(OVPN_CLIENT3, dport=1194), hs.OVPN_INIT3),
    (_eth(_udp(OVPN_SERVER, sport=1194, dport=51000)), hs.OVPN_RESP),
    (_eth(_udp(bytes([9 << 3]) + b"\0" * 25, dport=1194)), hs.NONE),      # P_DATA_V2, 26 bytes
    (_eth(_udp(bytes([8 << 3 | 1]) + OVPN_SERVER[1:], dport=1194)), hs.NONE),   # key id 1
    (_eth(_udp(OVPN_CLIENT[:10], dport=1194)), hs.NONE),        # too short for a hard reset
    (_eth(_tcp(struct.pack(">H", len(OVPN_CLIENT)) + OVPN_CLIENT)), hs.OVPN_INIT2),
    (Ether(**MAC) / PPPoE(sessionid=4) / PPP(proto=0x0021)
     / _tcp(struct.pack(">H", len(OVPN_SERVER)) + OVPN_SERVER), hs.OVPN_RESP),
    (_eth(_tcp(struct.pack(">H", 200) + OVPN_CLIENT)), hs.NONE),   # prefix beyond the segment
    (_eth(_tcp(OVPN_CLIENT)), hs.NONE),                           # no length prefix over TCP
]


def test_handshake_kinds_behind_any_link_layer(tmp_path):
    frames = [(T0 + i * MS, bytes(p)) for i, (p, _) in enumerate(CASES)]
    path = tmp_path / "hs.pcap"
    path.write_bytes(_pcapgen().pcap(frames, nano=True))
    df = read_packets(path)
    kinds = hs.handshake_kinds(df, np.ones(len(df), bool))
    assert kinds.tolist() == [k for _, k in CASES]
    # frames outside the tunnel transport are never handshakes
    assert not hs.handshake_kinds(df, np.zeros(len(df), bool)).any()
    df["capture"] = 0

    class Cap:
        file = "hs.pcap"
    ts, labels, refs = hs.handshake_list(df, [Cap()], kinds)
    assert list(ts) == sorted(ts) and len(labels) == int((kinds > 0).sum())
    assert refs[0] == "hs.pcap#1" and labels[0] == "WireGuard handshake initiation"
    assert hs.responses(labels).tolist() == [
        lab in ("WireGuard handshake response",
                "OpenVPN handshake response (P_CONTROL_HARD_RESET_SERVER_V2)") for lab in labels]
    assert sum(hs.responses(labels)) == 4



def test_keepalives_are_not_tunnel_data(tmp_path):
    frames = [_eth(_udp(b"\x04\0\0\0" + b"k" * 28)),       # keepalive: 32 bytes, empty
              _eth(_udp(b"\x04\0\0\0" + b"d" * 60)),       # data
              _eth(_udp(b"\x04\0\0\x01" + b"k" * 28)),     # reserved bytes not zero
              _eth(_udp(b"\x02\0\0\0" + b"r" * 88))]       # a handshake response
    path = tmp_path / "ka.pcap"
    path.write_bytes(_pcapgen().pcap([(T0 + i * MS, bytes(p)) for i, p in enumerate(frames)],
                                     nano=True))
    df = read_packets(path)
    assert hs.keepalives(df, np.ones(len(df), bool)).tolist() == [True, False, False, False]
    assert not hs.keepalives(df, np.zeros(len(df), bool)).any()

def test_openvpn_handshake_response_fixes_the_episode_end(builder):
    """endpoint 1194/udp: the client's hard reset does not end the gap, the server's
    reset opens the end band, the first tunnel data frame closes it."""
    ovpn = (ENDPOINT[0], 1194)

    def tunnel_packet(t_ns, payload=b"x" * 32):
        builder.udp(t_ns, TUN4, SINK[0], 40000, SINK[1], payload, ifindex=3)
        builder.udp(t_ns + 20_000, DEV4, ovpn[0], 51000, ovpn[1], bytes([9 << 3]) + b"d" * 80)

    builder.tunnel_packet = tunnel_packet
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.log(1000, "tunnel down dev wg0")
    builder.udp(T0 + 1440 * MS, DEV4, ovpn[0], 51000, ovpn[1], OVPN_CLIENT)
    builder.udp(T0 + 1450 * MS, ovpn[0], DEV4, ovpn[1], 51000, OVPN_SERVER, out=False)
    a = analyze(builder.write(**{"vpn.endpoints": [f"{ovpn[0]}:{ovpn[1]}/udp"]}))
    (ep,) = a.episodes
    assert a.verdict.status == "PASS", a.verdict.reasons
    # the band runs from the server's reset to the first probe inside the tunnel (without
    # the reset it would be one probe interval before that probe)
    assert ep.end_band == (T0 + 1450 * MS, T0 + 1500 * MS + 5_000)
    assert ep.end_ns == T0 + 1450 * MS
    kinds = [e.rsplit(" ", 1)[0] for e in ep.end_evidence]
    assert "OpenVPN handshake response (P_CONTROL_HARD_RESET_SERVER_V2)" in kinds
    assert "OpenVPN handshake initiation (P_CONTROL_HARD_RESET_CLIENT_V2)" in kinds
