"""tshark's view of chosen frames, for what scapy cannot decode (dissect's second pass).

tshark reads either a temporary pcapng of only the requested frames (fast; its
TCP/QUIC reassembly sees only those) or the original file up to the last requested
frame with a display filter (full context, slow).  Its fields fill only what
scapy left empty.
"""

import json
import os
import struct
import subprocess
import tempfile

from ksaudit.errors import KsauditError
from ksaudit.pcap.text import NAME_CAP, TEXT_CAP, clean_text

_TSHARK_FIELDS = ("frame.protocols", "dns.qry.name", "dns.a", "dns.aaaa",
                  "dns.cname", "tls.handshake.extensions_server_name", "http.host")
TEXT_FIELDS = ("dns_query", "dns_answers", "tls_sni", "http_host", "quic_sni")
_LABELS = {"dns_query": "DNS", "tls_sni": "TLS SNI", "quic_sni": "QUIC SNI", "http_host": "HTTP Host"}


def run_tshark(exe: str, path: str, records: dict, context: str, timeout_s: float) -> dict:
    """frame -> {field: text} as tshark sees the requested frames."""
    cmd = [exe, "-n", "-T", "json", "-o", "tcp.desegment_tcp_streams:TRUE"]
    for field in ("frame.number", *_TSHARK_FIELDS):
        cmd += ["-e", field]
    order = sorted(f for f, rec in records.items() if not isinstance(rec[0], str))
    if not order:
        return {}
    with tempfile.TemporaryDirectory(prefix="ksaudit-dissect-") as tmp:
        if context == "file":
            cmd += ["-r", path, "-c", str(order[-1]),
                    "-Y", "frame.number in {" + ", ".join(map(str, order)) + "}"]
        else:
            small = os.path.join(tmp, "frames.pcapng")
            _write_pcapng(small, [records[f] for f in order])
            cmd += ["-r", small]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise KsauditError(f"tshark timed out after {timeout_s:g} s, scapy only") from None
        except OSError as exc:
            raise KsauditError(f"tshark failed to start ({exc.strerror}), scapy only") from None
    text = done.stdout.decode("utf-8", "replace").strip()
    lines = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines()
             if ln.strip() and "Running as user" not in ln]
    why = f"exit {done.returncode}: {lines[0] if lines else 'no message'}"
    try:
        packets = json.loads(text or "[]")
    except ValueError:
        try:   # a capture cut short can leave the closing bracket out
            packets = json.loads(text.rstrip(",\n ") + "]")
        except ValueError:
            raise KsauditError(f"tshark failed ({why}; unreadable output), scapy only") from None
    if not packets and done.returncode != 0:
        raise KsauditError(f"tshark failed ({why}), scapy only")
    out = {}
    for pkt in packets:
        layers = pkt.get("_source", {}).get("layers", {})
        number = int(layers.get("frame.number", ["0"])[0])
        frame = number if context == "file" else (order[number - 1] if 0 < number <= len(order) else 0)
        if frame:
            out[frame] = _tshark_fields(layers)
    return out


def _tshark_fields(layers: dict) -> dict:
    def get(name, cap=NAME_CAP):
        return "; ".join(clean_text(v, cap) for v in layers.get(name, []) if v)
    sni = get("tls.handshake.extensions_server_name")
    quic = "quic" in get("frame.protocols", TEXT_CAP).split(":")
    answers = [f"{kind} {a}" for kind in ("A", "AAAA", "CNAME")
               for a in layers.get(f"dns.{kind.lower()}", [])]
    return {"dns_query": clean_text(get("dns.qry.name"), TEXT_CAP),
            "dns_answers": clean_text("; ".join(answers), TEXT_CAP),
            "tls_sni": "" if quic else sni, "quic_sni": sni if quic else "",
            "http_host": get("http.host")}


def merge(row: dict, fields: dict) -> None:
    """Fill the row's empty fields from tshark's view; scapy's values stand."""
    for name in TEXT_FIELDS:
        if fields.get(name) and not row[name]:
            row[name] = fields[name]
            row["_by"].add("tshark")
            if name in _LABELS:
                row["summary"] = clean_text(f"{row['summary']} {_LABELS[name]} {fields[name]}", TEXT_CAP)


def _write_pcapng(path: str, records: list) -> None:
    """A minimal pcapng: one interface per link type, one EPB per record."""
    interfaces: dict = {}
    blocks = [struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)]
    for data, linktype, wirelen in records:
        if linktype not in interfaces:
            interfaces[linktype] = len(interfaces)
            blocks.append(struct.pack("<IIHHII", 1, 20, int(linktype or 0) & 0xFFFF, 0, 0, 20))
        pad = b"\0" * (-len(data) % 4)
        size = 32 + len(data) + len(pad)
        blocks.append(struct.pack("<IIIIIII", 6, size, interfaces[linktype], 0, 0, len(data),
                                  max(wirelen or 0, len(data))) + data + pad + struct.pack("<I", size))
    with open(path, "wb") as fh:
        fh.write(b"".join(blocks))
