"""Tunnel handshakes in the capture: WireGuard and OpenVPN, by their message headers.

A handshake frame is a tunnel-transport frame that carries no tunnel data: its time is
boundary evidence (the response fixes when the tunnel came back) and it must not end
a gap in tunnel traffic.  Decided from the decoded transport payload
(``payload_len``, ``payload_head``), so any link layer the decoder reads (VLAN, PPPoE,
MPLS, SLL2) works alike.

- WireGuard (UDP): message type 1 initiation, 2 response, 3 cookie reply, each followed
  by three zero reserved bytes and of its fixed size (148, 92, 64 bytes).
- OpenVPN: opcode = first byte >> 3, key id = first byte & 7 (src/openvpn/ssl_pkt.h):
  P_CONTROL_HARD_RESET_CLIENT_V2 (7) and _V3 (10) are initiations,
  P_CONTROL_HARD_RESET_SERVER_V2 (8) the response; a hard reset always starts key id 0
  and holds at least opcode, session id and message packet id (14 bytes).  Over TCP a
  2-byte length prefix precedes each packet.

Session upkeep that carries no tunnel data (`keepalives`) must not end a gap either:
WireGuard keepalives, and OpenVPN's control channel (P_CONTROL_SOFT_RESET_V1 3,
P_CONTROL_V1 4, P_ACK_V1 5, P_CONTROL_WKC_V1 11: the TLS handshake and the pushed
options, sent while reconnecting before the routes are back) and its pings (a data
packet too short to hold an IP header: the 16-byte ping magic under an AEAD cipher,
40 bytes as P_DATA_V2, 37 as P_DATA_V1; the server keeps sending them to a client
that was killed).
"""

from __future__ import annotations

import numpy as np

NONE, WG_INIT, WG_RESP, WG_COOKIE, OVPN_INIT2, OVPN_INIT3, OVPN_RESP = range(7)
LABELS = {
    WG_INIT: "WireGuard handshake initiation",
    WG_RESP: "WireGuard handshake response",
    WG_COOKIE: "WireGuard cookie reply",
    OVPN_INIT2: "OpenVPN handshake initiation (P_CONTROL_HARD_RESET_CLIENT_V2)",
    OVPN_INIT3: "OpenVPN handshake initiation (P_CONTROL_HARD_RESET_CLIENT_V3)",
    OVPN_RESP: "OpenVPN handshake response (P_CONTROL_HARD_RESET_SERVER_V2)",
}
# labels of the messages that answer an initiation: the tunnel's peer is reachable again
RESPONSES = frozenset({LABELS[WG_RESP], LABELS[OVPN_RESP]})
# WireGuard message sizes (UDP payload) and their labels
WG_HANDSHAKE = {148: LABELS[WG_INIT], 92: LABELS[WG_RESP], 64: LABELS[WG_COOKIE]}
_WG_TYPES = {1: (WG_INIT, 148), 2: (WG_RESP, 92), 3: (WG_COOKIE, 64)}
_OVPN_OPCODES = {7: OVPN_INIT2, 10: OVPN_INIT3, 8: OVPN_RESP}
_OVPN_MIN_BYTES = 14
# OpenVPN control-channel opcodes that are not hard resets: soft reset 3, control 4, ack 5,
# control with wrapped client key 11; at least opcode, session id and an ack count
_OVPN_CONTROL = (3, 4, 5, 11)
_OVPN_MIN_CONTROL_BYTES = 10
# data opcodes -> the most bytes that cannot hold a 20-byte IPv4 header under an AEAD
# cipher: P_DATA_V1 6 (1-byte opcode, 4-byte packet id, 16-byte tag), P_DATA_V2 9 (+3-byte
# peer id); the 16-byte ping is 37 and 40 bytes
_OVPN_PING_MAX = {6: 1 + 4 + 16 + 19, 9: 4 + 4 + 16 + 19}


def handshake_kinds(packets, transport) -> np.ndarray:
    """Per frame (int8): the handshake kind (a key of `LABELS`) of each frame in the
    ``transport`` mask (tunnel-transport frames), `NONE` (0) for every other frame."""
    out = np.zeros(len(packets), np.int8)
    proto = packets["proto"].to_numpy()
    n = packets["payload_len"].to_numpy().astype(np.int64)
    head = packets["payload_head"].to_numpy().astype(np.int64)
    known = np.asarray(transport, bool) & (head >= 0)
    udp, tcp = known & (proto == 17), known & (proto == 6)
    first = head >> 24
    for t, (kind, size) in _WG_TYPES.items():
        out[udp & (first == t) & ((head & 0xFFFFFF) == 0) & (n == size)] = kind
    for opcode, kind in _OVPN_OPCODES.items():
        byte = opcode << 3                       # key id 0
        out[udp & (first == byte) & (n >= _OVPN_MIN_BYTES)] = kind
        prefix = head >> 16
        out[tcp & (((head >> 8) & 0xFF) == byte) & (prefix >= _OVPN_MIN_BYTES)
            & (prefix <= n - 2)] = kind
    return out


def keepalives(packets, transport) -> np.ndarray:
    """Mask of the session upkeep among the ``transport`` frames: WireGuard keepalives
    (a transport-data message, type 4 with zero reserved bytes, with nothing inside:
    16-byte header, 16-byte tag) and OpenVPN control-channel packets and pings (module
    docstring; over TCP, a segment holding one such packet behind its length prefix).
    Upkeep shows a session, not that traffic goes through the tunnel again: after a
    reconnect it comes before the routes are back."""
    head = packets["payload_head"].to_numpy().astype(np.int64)
    n = packets["payload_len"].to_numpy().astype(np.int64)
    proto = packets["proto"].to_numpy()
    known = np.asarray(transport, bool) & (head >= 0)
    udp, tcp = known & (proto == 17), known & (proto == 6)
    wg = udp & ((head >> 24) == 4) & ((head & 0xFFFFFF) == 0) & (n == 32)
    prefix = head >> 16
    alone = tcp & (prefix == n - 2)                       # one OpenVPN packet in the segment
    return wg | _openvpn_upkeep(head >> 27, udp, n) | _openvpn_upkeep((head >> 11) & 0x1F, alone,
                                                                      n - 2)


def _openvpn_upkeep(opcode, rows, n) -> np.ndarray:
    """Rows whose OpenVPN packet (``opcode``, ``n`` bytes) is a control-channel packet
    other than a hard reset, or a ping (`_OVPN_PING_MAX` by data opcode)."""
    control = np.isin(opcode, _OVPN_CONTROL) & (n >= _OVPN_MIN_CONTROL_BYTES)
    ping = np.zeros(len(n), bool)
    for op, most in _OVPN_PING_MAX.items():
        ping |= (opcode == op) & (n <= most)
    return rows & (control | ping)


def handshake_list(packets, caps, kinds):
    """(ts_ns, labels, refs) of the handshake frames (`handshake_kinds` nonzero), sorted
    by time; refs name frames as ``"<capture file>#<frame>"``."""
    rows = np.flatnonzero(kinds > 0)
    ts = packets["ts_ns"].to_numpy()[rows]
    order = np.argsort(ts, kind="stable")
    rows = rows[order]
    frames, capn = packets["frame"].to_numpy(), packets["capture"].to_numpy()
    return (ts[order], [LABELS[int(kinds[r])] for r in rows],
            [f"{caps[int(capn[r])].file}#{int(frames[r])}" for r in rows])


def responses(labels) -> np.ndarray:
    """Mask of the labels that are handshake responses (`RESPONSES`)."""
    return np.array([k in RESPONSES for k in labels], bool)
