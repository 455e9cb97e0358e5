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

def test_openvpn_control_channel_and_pings_are_not_tunnel_data(tmp_path):
    """Frames as OpenVPN 2.6 (tls-crypt, AES-256-GCM) sends them on 1194/udp while it
    reconnects, and the 40-byte pings its server sends to a killed client."""
    ack = bytes([5 << 3]) + SID + b"\x01" + b"\0\0\0\0" + SID
    frames = [
        (_udp(bytes([4 << 3]) + SID + b"t" * 330, dport=1194), True),      # P_CONTROL_V1 (TLS)
        (_udp(ack, dport=1194), True),                                       # P_ACK_V1
        (_udp(bytes([3 << 3 | 1]) + SID + b"s" * 40, dport=1194), True),     # soft reset, key 1
        (_udp(bytes([11 << 3]) + SID + b"w" * 200, dport=1194), True),       # P_CONTROL_WKC_V1
        (_udp(bytes([4 << 3]) + b"\0" * 8, dport=1194), False),              # 9 bytes: too short
        (_udp(bytes([9 << 3]) + b"\0\0\0" + b"p" * 36, sport=1194), True),   # P_DATA_V2 ping, 40
        (_udp(bytes([9 << 3]) + b"\0\0\0" + b"d" * 40, dport=1194), False),  # 44: an IP header fits
        (_udp(bytes([9 << 3]) + b"\0\0\0" + b"d" * 80, dport=1194), False),  # a probe, 84 bytes
        (_udp(bytes([6 << 3]) + b"p" * 36, dport=1194), True),               # P_DATA_V1 ping, 37
        (_udp(bytes([6 << 3]) + b"d" * 40, dport=1194), False),              # P_DATA_V1, 41
        (_udp(OVPN_CLIENT, dport=1194), False),                              # a hard reset: a handshake
        (_tcp(struct.pack(">H", len(ack)) + ack), True),                     # one ack behind its prefix
        (_tcp(struct.pack(">H", len(ack)) + ack + struct.pack(">H", 84)
              + bytes([9 << 3]) + b"d" * 83), False),                       # ... followed by data
    ]
    path = tmp_path / "ovpn.pcap"
    path.write_bytes(_pcapgen().pcap([(T0 + i * MS, bytes(_eth(f))) for i, (f, _) in
                                      enumerate(frames)], nano=True))
    df = read_packets(path)
    assert hs.keepalives(df, np.ones(len(df), bool)).tolist() == [want for _, want in frames]
    assert not hs.keepalives(df, np.zeros(len(df), bool)).any()
    assert (hs.handshake_kinds(df, np.ones(len(df), bool)) > 0).tolist() == \
        [i == 10 for i in range(len(frames))]


def test_openvpn_pings_and_control_frames_do_not_split_or_end_a_gap(builder):
    """After a kill the server's pings and relayed data keep arriving at the dead port, and
    the restarted client's TLS exchange runs before its routes are back: one episode, ended
    by the first tunnel data frame (the probe after the routes), holding every leak."""
    ovpn = (ENDPOINT[0], 1194)
    ping = bytes([9 << 3]) + b"\0\0\0" + b"p" * 36

    def tunnel_packet(t_ns, payload=b"x" * 32):
        builder.udp(t_ns, TUN4, SINK[0], 40000, SINK[1], payload, ifindex=3)
        builder.udp(t_ns + 20_000, DEV4, ovpn[0], 51000, ovpn[1], bytes([9 << 3]) + b"d" * 80)

    builder.tunnel_packet = tunnel_packet
    builder.probes_run(0, 3000, lambda t: "leak" if 1000 <= t < 2000 else "up")
    builder.log(1080, "tunnel down dev wg0")   # logged when the killed process was reaped
    # the server relays data to the dead port before that (100 bytes, as seen in the lab)
    builder.udp(T0 + 1070 * MS, ovpn[0], DEV4, ovpn[1], 51000, bytes([9 << 3]) + b"m" * 99,
                out=False)
    for t in (1300, 1600, 1900):               # and pings it
        builder.udp(T0 + t * MS, ovpn[0], DEV4, ovpn[1], 51000, ping, out=False)
    builder.udp(T0 + 1940 * MS, DEV4, ovpn[0], 51001, ovpn[1], OVPN_CLIENT)
    builder.udp(T0 + 1941 * MS, ovpn[0], DEV4, ovpn[1], 51001, OVPN_SERVER, out=False)
    for t in range(1945, 1995, 5):             # TLS handshake and push reply, 50 ms
        builder.udp(T0 + t * MS, DEV4, ovpn[0], 51001, ovpn[1], bytes([4 << 3]) + SID + b"t" * 200)
        builder.udp(T0 + t * MS + 100_000, ovpn[0], DEV4, ovpn[1], 51001,
                    bytes([5 << 3]) + SID + b"\x01" + b"\0" * 4 + SID, out=False)
    a = analyze(builder.write(**{"vpn.endpoints": [f"{ovpn[0]}:{ovpn[1]}/udp"]}))
    (ep,) = a.episodes
    assert a.verdict.status == "FAIL"
    leaked = a.leaks[a.leaks["rule"].astype(str) == "leak"]
    assert set(leaked["episode"].astype(int)) == {ep.id} and len(leaked) == 100
    # the end band opens at the server's reset and closes at the first probe inside the
    # tunnel (a ping or the TLS exchange would have closed it with leaks still to come)
    assert ep.end_band == (T0 + 1941 * MS, T0 + 2000 * MS + 5_000)
    assert a.steady_state["leaked_frames"] == 0


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
