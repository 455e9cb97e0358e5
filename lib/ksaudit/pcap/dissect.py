"""Deep dissection of chosen frames only: the human-readable evidence of a leak.

The compiled record walk (``seek``) finds the wanted frames' bytes and stops after
the last one; scapy decodes only those (DNS, TLS ClientHello SNI, HTTP Host);
tshark (``tshark_view``) then fills what scapy cannot (QUIC Initial SNI, a
ClientHello split across TCP segments).  Text comes back
unescaped (escaping is the report's job), control characters replaced, capped.
"""

from __future__ import annotations

import os
import shutil
import struct

import pandas as pd

from ksaudit.errors import KsauditError
from ksaudit.pcap import linktypes
from ksaudit.pcap.seek import locate_frames
from ksaudit.pcap.text import NAME_CAP, TEXT_CAP, clean_text
from ksaudit.pcap.tshark_view import merge, run_tshark

COLUMNS = ("frame", "summary", "dns_query", "dns_answers", "tls_sni",
           "http_host", "quic_sni", "truncated", "tool")
NOT_IN_CAPTURE = "frame not in capture"
_MAGICS = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d",
           b"\x4d\x3c\xb2\xa1", b"\x0a\x0d\x0d\x0a", b"\x1f\x8b"}
_DNS_PORTS = {53, 5353, 5355}
_GENEVE_PROTOCOLS = {0x6558: linktypes.ETHERNET, 0x0800: linktypes.IPV4,
                     0x86DD: linktypes.IPV6}     # Geneve protocol type (an ethertype)
_MAX_OVERLAYS = 4       # overlays inside overlays decoded, at most
_MAX_BYTES = 1 << 18    # bytes kept per frame (lifts scapy's 64 KiB read cap: GRO frames)
_HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ",
                 b"CONNECT ", b"PATCH ", b"TRACE ")


def dissect(path, frames, *, tshark: str | None = "tshark", context: str = "frames",
            timeout_s: float = 120.0) -> pd.DataFrame:
    """Dissect only the listed frames of a pcap or pcapng file.

    Parameters
    ----------
    path : str or os.PathLike
        The capture (pcap, pcapng, optionally gzip-compressed).
    frames : iterable of int
        1-based frame numbers as Wireshark numbers them (the packet table's
        ``frame`` column), in any order, duplicates allowed.
    tshark : str or None
        tshark executable; ``None`` or not found -> scapy only (said in ``tool``).
    context : "frames" or "file"
        "frames" (default, fast): tshark reads a temporary capture of only the
        requested frames, so its reassembly sees only those.  "file": tshark
        reads the original file up to the last requested frame with
        ``-Y "frame.number in {...}"`` (full TCP/QUIC context, slower).
    timeout_s : float
        Limit for the tshark run; on expiry scapy's view stands.

    Returns
    -------
    pandas.DataFrame
        One row per distinct requested frame, sorted: ``frame`` (int64),
        ``summary``, ``dns_query`` ("; "-joined), ``dns_answers`` ("name TYPE
        data; ..."), ``tls_sni``, ``http_host``, ``quic_sni`` ("" when absent),
        ``truncated`` (bool, cut by the snap length), ``tool`` (dissectors that
        supplied the row).  A frame the file lacks: empty fields, summary
        "frame not in capture".

    Raises
    ------
    KsauditError
        The file is missing, unreadable or not a capture; a frame number is not
        an integer or outside int64; `context` is not "frames" or "file".
    """
    path = os.fspath(path)
    if context not in ("frames", "file"):
        raise KsauditError(f"dissect: context must be 'frames' or 'file', not {context!r}")
    wanted = _normalize_frames(path, frames)
    records = _read_records(path, wanted)
    rows = {f: _scapy_row(f, *records[f]) if f in records else _empty_row(f, NOT_IN_CAPTURE)
            for f in wanted}
    note = ""
    exe = shutil.which(tshark) if tshark else None
    if exe is None:
        note = "tshark unavailable, scapy only"
    elif records:
        try:
            seen = run_tshark(exe, path, records, context, timeout_s)
        except KsauditError as exc:
            note = clean_text(str(exc), 200)
        else:
            for frame, fields in seen.items():
                if frame in rows:
                    merge(rows[frame], fields)
    for row in rows.values():   # "scapy" or "scapy+tshark", plus why tshark did not help
        row["tool"] = "+".join(sorted(row.pop("_by"), key="scapy tshark".find))
        row["tool"] += f" ({note})" if note else ""
    table = pd.DataFrame([rows[f] for f in wanted], columns=list(COLUMNS))
    table["frame"] = table["frame"].astype("int64")
    table["truncated"] = table["truncated"].astype(bool)
    return table


def _normalize_frames(path, frames) -> list[int]:
    out = set()
    for f in [frames] if isinstance(frames, (int, str, bytes)) else frames:
        if isinstance(f, (bool, float)) or not hasattr(f, "__index__"):
            raise KsauditError(f"{path}: dissect: frame number {f!r} is not an integer")
        if not -2**63 <= int(f) < 2**63:
            raise KsauditError(f"{path}: dissect: frame number {int(f)} is out of range")
        out.add(int(f))
    return sorted(out)


def _empty_row(frame: int, summary: str) -> dict:
    row = {c: "" for c in COLUMNS}
    row.update(frame=frame, summary=summary, truncated=False, _by={"scapy"})
    return row


# ---------------------------------------------------------------- reading

def _read_records(path: str, wanted: list[int]) -> dict:
    """frame -> (bytes, linktype, wirelen) for the wanted frames the file holds."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise KsauditError(f"{path}: cannot read capture: {exc.strerror or exc}") from None
    if magic not in _MAGICS and magic[:2] != b"\x1f\x8b":
        raise KsauditError(f"{path}: not a pcap or pcapng file (magic {magic.hex() or 'empty'})")
    wanted = [f for f in wanted if f >= 1]
    if not wanted:
        return {}
    try:   # the compiled record walk seeks straight to the wanted frames
        found = locate_frames(path, wanted, max_bytes=_MAX_BYTES)
    except KsauditError:   # gzip, modified pcap, a damaged header: scapy's walk decides
        return _scapy_records(path, wanted)
    records = {f: (r.data, r.linktype, r.wirelen) for f, r in found.records.items()}
    # scapy's walk for the rest: numbered non-packet pcapng blocks (it names them) and
    # frames past a damaged tail (it keeps a cut last record, the walk does not)
    rest = [f for f in wanted if f not in records
            and (f <= found.last_frame or not found.clean_end)]
    if rest:
        records.update(_scapy_records(path, rest))
    return records


def _scapy_records(path: str, wanted: list[int]) -> dict:
    """As _read_records, with scapy's own record walk up to the last wanted frame."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader
    records = {}
    want, last = set(wanted), wanted[-1]
    try:
        reader = RawPcapReader(path)
    except (Scapy_Exception, OSError, EOFError, ValueError, struct.error) as exc:
        raise KsauditError(f"{path}: not a readable capture: {exc}") from None
    pcap_linktype = getattr(reader, "linktype", None)
    if hasattr(reader, "blocktypes"):   # Wireshark numbers these pcapng blocks as frames too
        for kind, name in ((9, "systemd journal export block"), (0xBAD, "custom block"),
                           (0x40000BAD, "custom block")):
            reader.blocktypes[kind] = lambda block, size, name=name: (f"pcapng {name}, not a packet", None)
    try:   # _read_packet: scapy's own record walk; size lifts its 64 KiB cap (GRO frames)
        for frame in range(1, last + 1):
            data, meta = reader._read_packet(size=_MAX_BYTES)
            if frame in want and meta is None:
                records[frame] = (data, None, None)
            elif frame in want:
                records[frame] = (data, getattr(meta, "linktype", pcap_linktype), meta.wirelen)
    except (Scapy_Exception, OSError, EOFError, ValueError, struct.error):
        pass   # a damaged tail: keep every frame read before it
    finally:
        reader.close()
    return records


# ---------------------------------------------------------------- scapy view

def _scapy_row(frame: int, data: bytes, linktype, wirelen: int) -> dict:
    if isinstance(data, str):   # a numbered non-packet block
        return _empty_row(frame, data)
    row = _empty_row(frame, "")
    row["truncated"] = wirelen is not None and len(data) < wirelen
    try:
        _decode(row, data, linktype)
    except Exception as exc:   # noqa: BLE001 - hostile bytes must never escape as a traceback
        row["summary"] = row["summary"] or f"undecodable ({type(exc).__name__})"
    if row["truncated"]:
        row["summary"] += f" [cut at {len(data)} of {wirelen} bytes]"
    row["summary"] = clean_text(row["summary"].strip(), TEXT_CAP)
    return row


def _decode(row: dict, data: bytes, linktype, depth: int = 0) -> None:
    from scapy.config import conf
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv46, _IPv6ExtHdr
    from scapy.layers.l2 import ARP
    from scapy.packet import NoPayload, Raw
    protected = _macsec_cleartext(data) if linktype == linktypes.ETHERNET else None
    if protected is not None and depth < _MAX_OVERLAYS:     # scapy does not look inside
        _decode(row, protected, linktypes.ETHERNET, depth + 1)
        row["summary"] = f"MACsec (cleartext): {row['summary']}"
        return
    cls = IPv46 if linktype in linktypes.RAW_IP else conf.l2types.get(linktype) or Raw
    pkt = ip = cls(data)
    while not isinstance(ip, NoPayload) and type(ip) not in (IP, IPv6):
        ip = ip.payload
    if isinstance(ip, NoPayload):
        arp = pkt.getlayer(ARP)
        row["summary"] = (f"link type {linktype}: {pkt.summary()}" if arp is None else
                          f"ARP who-has {arp.pdst} tell {arp.psrc}" if arp.op == 1 else
                          f"ARP {arp.sprintf('%op%')} {arp.psrc} > {arp.pdst}")
        return
    l4 = ip.payload
    while isinstance(l4, _IPv6ExtHdr):
        l4 = l4.payload
    src, dst = str(ip.src), str(ip.dst)
    if type(l4) not in (TCP, UDP):
        name = "ICMP" if type(l4) is ICMP else l4.name if l4.name != "NoPayload" else "IP"
        extra = f" type {l4.type} code {l4.code}" if hasattr(l4, "code") and hasattr(l4, "type") else ""
        row["summary"] = f"{name} {src} > {dst}{extra}"
        return
    proto = "TCP" if type(l4) is TCP else "UDP"
    fmt = "[{}]:{}" if ip.version == 6 else "{}:{}"
    head = f"{proto} {fmt.format(src, l4.sport)} > {fmt.format(dst, l4.dport)}"
    if proto == "TCP":
        head += f" [{l4.sprintf('%flags%')}]"
    payload = _l4_payload(ip, l4)
    row["summary"] = head
    overlay = _overlay(payload, l4.dport) if proto == "UDP" and depth < _MAX_OVERLAYS else None
    if overlay is not None:     # the packet that left is the outer one; say what it carried
        label, inner, inner_linktype = overlay
        _decode(row, inner, inner_linktype, depth + 1)
        row["summary"] = f"{head} {label}: {row['summary']}"
        return
    try:
        row["summary"] += " " + _application(row, proto, l4.sport, l4.dport, payload)
    except Exception as exc:   # noqa: BLE001 - a hostile payload keeps the L3/L4 summary
        row["summary"] += f" {len(payload)} bytes, undecodable ({type(exc).__name__})"


def _macsec_cleartext(frame: bytes) -> bytes | None:
    """The Ethernet frame a cleartext MACsec frame (IEEE 802.1AE, E and C clear) carries:
    its addresses, then what follows the SecTAG without the 16-byte ICV (as
    ``decode.macsec_inner`` reads it); None for any other frame."""
    o = 12
    while frame[o:o + 2] in (b"\x81\x00", b"\x88\xa8"):
        o += 4
    if frame[o:o + 2] != b"\x88\xe5" or len(frame) < o + 8 or frame[o + 2] & 0x0C:
        return None
    q = o + 2 + (14 if frame[o + 2] & 0x20 else 6)
    if len(frame) < q + 2 + 16:
        return None
    return frame[:12] + frame[q:len(frame) - 16]


def _overlay(payload: bytes, dport: int):
    """(label, inner frame, its link type) of a VXLAN (UDP 4789, RFC 7348: I flag,
    24-bit VNI, inner Ethernet) or Geneve (UDP 6081, RFC 8926: version 0, options
    length, protocol type, VNI) payload; None for anything else."""
    if len(payload) < 8:
        return None
    vni = int.from_bytes(payload[4:7], "big")
    if dport == 4789 and payload[0] & 0x08:
        return f"VXLAN VNI {vni}", payload[8:], linktypes.ETHERNET
    if dport == 6081 and payload[0] >> 6 == 0:
        inner = _GENEVE_PROTOCOLS.get(int.from_bytes(payload[2:4], "big"))
        if inner is not None:
            return f"Geneve VNI {vni}", payload[8 + (payload[0] & 0x3F) * 4:], inner
    return None


def _l4_payload(ip, l4) -> bytes:
    """The L4 payload exactly as captured (not as scapy would rebuild it),
    without link-layer padding; as much as the frame holds when cut."""
    raw = l4.original or b""
    header = 8 if l4.name == "UDP" else (l4.dataofs or 5) * 4
    total = ip.len if ip.version == 4 else (40 + ip.plen if ip.plen else 0)
    end = total - (len(ip.original) - len(raw)) if total else len(raw)
    return raw[header:max(header, min(end, len(raw)))]


def _application(row: dict, proto: str, sport: int, dport: int, payload: bytes) -> str:
    if not payload:
        return ""
    if sport in _DNS_PORTS or dport in _DNS_PORTS:
        return _dns(row, payload[2:] if proto == "TCP" else payload)
    if proto == "TCP":
        if payload.startswith(_HTTP_METHODS):
            return _http(row, payload)
        kind, sni = client_hello_sni(payload)
        if kind:
            row["tls_sni"] = clean_text(sni or "")
            return f"TLS ClientHello SNI {row['tls_sni']}" if sni else f"TLS {kind}"
        return f"{len(payload)} bytes"
    if len(payload) >= 5 and payload[0] & 0xC0 == 0xC0 and payload[1:5] == b"\0\0\0\1":
        return "QUIC Initial" if payload[0] & 0x30 == 0 else "QUIC long header"
    return f"{len(payload)} bytes"


def _dns(row: dict, payload: bytes) -> str:
    from scapy.layers.dns import DNS, dnstypes
    try:
        msg = DNS(payload)
        questions, records = list(msg.qd or []), list(msg.an or []) if msg.qr else []
    except Exception:   # noqa: BLE001 - hostile or cut message: read the question by hand
        msg, questions, records = None, [], []
    names = [clean_text(_strip_dot(q.qname)) for q in questions if hasattr(q, "qname")]
    qtypes = [dnstypes.get(q.qtype, str(q.qtype)) for q in questions if hasattr(q, "qtype")]
    if not names:
        name = dns_first_qname(payload)
        names = [clean_text(name)] if name is not None else []
    answers = []
    for rr in records:
        if not hasattr(rr, "rrname"):
            continue
        rdata = rr.rdata
        if isinstance(rdata, list):
            rdata = " ".join(clean_text(x, TEXT_CAP) for x in rdata)
        elif isinstance(rdata, bytes):
            rdata = _strip_dot(rdata)
        answers.append(f"{clean_text(_strip_dot(rr.rrname))} {dnstypes.get(rr.type, rr.type)} "
                       f"{clean_text(rdata, NAME_CAP)}")
    row["dns_query"] = clean_text("; ".join(names), TEXT_CAP)
    row["dns_answers"] = clean_text("; ".join(answers), TEXT_CAP)
    kind = "response" if len(payload) > 2 and payload[2] & 0x80 else "query"
    text = f"DNS {kind} {' '.join(qtypes)} {row['dns_query']}".replace("  ", " ")
    return text + (f" -> {row['dns_answers']}" if answers else "")


def _strip_dot(name: bytes) -> bytes:
    return name[:-1] if name.endswith(b".") and len(name) > 1 else name


def dns_first_qname(msg: bytes) -> bytes | None:
    """The first question name of a DNS message, read label by label as far as
    the bytes go (a cut name ends in "..."); None when there is no question."""
    if len(msg) < 13 or int.from_bytes(msg[4:6], "big") == 0:
        return None
    labels, off = [], 12
    while off < len(msg) and msg[off] and len(labels) < 128:
        n = msg[off]
        if n >= 0xC0:   # compression pointer in a question: stop, keep what we have
            break
        label = msg[off + 1:off + 1 + n]
        if label or n == 0:
            labels.append(label)
        off += 1 + n
    name = b".".join(labels)
    return name + (b"..." if off >= len(msg) else b"")


def client_hello_sni(payload: bytes) -> tuple[str, bytes | None]:
    """Look for a TLS handshake at the start of a TCP payload.

    Returns ``(kind, sni)``: kind is "" (not TLS), "handshake", "ClientHello"
    or "ClientHello (incomplete)"; sni the server_name bytes or None.  Handshake
    fragments spread over several records of this payload are joined.
    """
    hs, off = b"", 0
    while off + 5 <= len(payload) and payload[off] == 22 and payload[off + 1] == 3:
        length = int.from_bytes(payload[off + 3:off + 5], "big")
        hs += payload[off + 5:off + 5 + length]
        off += 5 + length
    if not hs:
        return "", None
    if hs[0] != 1:
        return "handshake", None
    try:
        p = 4 + 2 + 32
        p += 1 + hs[p]                                   # session id
        p += 2 + int.from_bytes(hs[p:p + 2], "big")      # cipher suites
        p += 1 + hs[p]                                   # compression methods
        end = p + 2 + int.from_bytes(hs[p:p + 2], "big")
        p += 2
        while p + 4 <= min(end, len(hs)):
            ext, ln = int.from_bytes(hs[p:p + 2], "big"), int.from_bytes(hs[p + 2:p + 4], "big")
            if ext == 0:
                body = hs[p + 4:p + 4 + ln]
                if len(body) < ln or ln < 5:
                    break
                name_len = int.from_bytes(body[3:5], "big")
                return "ClientHello", body[5:5 + name_len]
            p += 4 + ln
    except IndexError:
        pass
    complete = len(hs) >= 4 + int.from_bytes(hs[1:4], "big")
    return ("ClientHello" if complete else "ClientHello (incomplete)"), None


def _http(row: dict, payload: bytes) -> str:
    head = payload.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    request = head[0].split(b" ")
    for line in head[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"host":
            row["http_host"] = clean_text(value.strip())
            break
    target = clean_text(request[1] if len(request) > 1 else b"", 200)
    return f"HTTP {clean_text(request[0], 10)} {row['http_host']} {target}".replace("  ", " ")
