"""Compiled frame decoder: link layer -> IP -> transport fields, one pass per frame.

Which header a frame is judged by when it carries another (PPPoE, MPLS and cleartext
MACsec: the inner IP header; VXLAN and Geneve: the outer one, the packet that leaves
the device; encrypted MACsec: none) is decided in docs/encapsulation.md.

``decode`` fills preallocated column arrays for frames ``i0 .. n-1`` and interns
addresses into an open-addressing hash table (16-byte key + kind), so that only the
unique addresses are ever formatted as text.  It returns the index it stopped at:
``n`` when done, earlier when the address table must grow (the caller grows it with
``AddressTable.grow`` and calls again from there).
"""

import numpy as np

from ksaudit.pcap._jit import jit, u16, u32
from ksaudit.pcap.linktypes import (ETHERNET, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, LOOP, NULL,
                                    RAW, RAW_BSD12, RAW_BSD14)

ET_IPV4, ET_IPV6, ET_ARP = 0x0800, 0x86DD, 0x0806
ET_PPPOE_SESSION, ET_MPLS, ET_MPLS_MC, ET_MACSEC = 0x8864, 0x8847, 0x8848, 0x88E5
MACSEC_ICV = 16                      # integrity check value after the secure data
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
MPLS_MAX_LABELS = 16
V6_EXT_SKIP = (0, 43, 60)            # hop-by-hop, routing, destination options
PROBE_MAGIC = np.frombuffer(b"KSAPROBE ", np.uint8).copy()
DIR_NONE, DIR_IN, DIR_OUT = 0, 1, 2


@jit
def _be64(buf, p):
    v = np.uint64(0)
    for k in range(8):
        v = (v << np.uint64(8)) | np.uint64(buf[p + k])
    return v


@jit
def intern(hi, lo, kind, tab_hi, tab_lo, tab_kind, tab_code, uniq_hi, uniq_lo, uniq_kind, count):
    """Code of address (hi, lo, kind) in the table, adding it when new (codes from 1)."""
    mask = np.uint64(tab_hi.shape[0] - 1)
    h = (hi * np.uint64(0x9E3779B97F4A7C15)) ^ lo ^ np.uint64(kind)
    h ^= h >> np.uint64(33)              # murmur3 fmix64: every key bit reaches the low bits
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    i = h & mask
    while True:
        k = tab_kind[i]
        if k == 0:
            code = count[0]
            count[0] = code + 1
            tab_kind[i] = kind
            tab_hi[i] = hi
            tab_lo[i] = lo
            tab_code[i] = code
            uniq_hi[code] = hi
            uniq_lo[code] = lo
            uniq_kind[code] = kind
            return code
        if k == kind and tab_hi[i] == hi and tab_lo[i] == lo:
            return tab_code[i]
        i = (i + np.uint64(1)) & mask


@jit
def _digits(buf, q, stop):
    """Parse ASCII digits at q: (value, next position); value -1 when none or overflow."""
    v = np.int64(0)
    start = q
    while q < stop and 48 <= buf[q] <= 57:
        d = np.int64(buf[q] - 48)
        if v > (9223372036854775807 - d) // 10:
            return -1, q
        v = v * 10 + d
        q += 1
    if q == start:
        return -1, q
    return v, q


@jit
def probe_fields(buf, q, stop, magic):
    """(seq, send_ns) of a ``KSAPROBE <seq> <send_ts_ns>`` payload at q, else (-1, -1)."""
    if stop - q < 13:
        return -1, -1
    for k in range(9):
        if buf[q + k] != magic[k]:
            return -1, -1
    seq, q = _digits(buf, q + 9, stop)
    if seq < 0 or q >= stop or buf[q] != 32:
        return -1, -1
    sent, q = _digits(buf, q + 1, stop)
    if sent < 0:
        return -1, -1
    return seq, sent


@jit
def inner_ip(buf, q, end, et):
    """(l3, ip_ethertype, ppp_proto) behind PPPoE session or MPLS at q, as Wireshark
    dissects them: PPP protocol 0x0021 / 0x0057; MPLS label stack to bottom-of-stack,
    then IPv4 / IPv6 by the first nibble.  ip_ethertype is -1 when no IP follows."""
    if et == ET_PPPOE_SESSION:
        if q + 8 > end:
            return q, -1, -1
        pp = u16(buf, q + 6, True)
        if pp == PPP_IPV4:
            return q + 8, ET_IPV4, pp
        if pp == PPP_IPV6:
            return q + 8, ET_IPV6, pp
        return q + 8, -1, pp
    if et == ET_MPLS or et == ET_MPLS_MC:
        for _ in range(MPLS_MAX_LABELS):
            if q + 4 > end:
                return q, -1, -1
            bottom = (buf[q + 2] & 1) == 1
            q += 4
            if bottom:
                if q >= end:
                    return q, -1, -1
                v = buf[q] >> 4
                return q, (ET_IPV4 if v == 4 else (ET_IPV6 if v == 6 else -1)), -1
        return q, -1, -1
    return q, et, -1


@jit
def macsec_inner(buf, q, end):
    """(l3, ethertype, vlan) of the cleartext inside the MACsec SecTAG at q, as
    Wireshark dissects it: only when neither E (encrypted) nor C (changed) is set
    and the frame holds the SecTAG (6 bytes, 14 with the SCI) and an ICV; VLAN tags
    inside are skipped.  ethertype is -1 when nothing is readable: an encrypted
    frame stays undecoded (``ip_version`` 0)."""
    if q + 6 > end or (buf[q] & 0x0C) != 0:
        return q, -1, -1
    q += 14 if buf[q] & 0x20 else 6
    if q + 2 + MACSEC_ICV > end:
        return q, -1, -1
    et = u16(buf, q, True)
    q += 2
    vl = -1
    while (et == 0x8100 or et == 0x88A8) and q + 4 <= end:
        if vl < 0:
            vl = u16(buf, q, True) & 0xFFF
        et = u16(buf, q + 2, True)
        q += 4
    return q, et, vl


@jit
def _payload(buf, l4, end, ipend, pr, frag):
    """(payload_len, payload_head) of the TCP (pr 6) / UDP (17) segment at l4: payload
    bytes by the IP length field (so a snap length does not shorten it), the first four
    captured payload bytes big-endian; -1 each when unknown (a fragment, a length field
    of 0, a UDP header or a TCP data offset cut off, a TCP data offset below 5)."""
    if frag or ipend < 0:
        return -1, -1
    if pr == 17:
        if l4 + 8 > end:           # as tshark: no UDP header, no length
            return -1, -1
        hl = 8
    else:
        if l4 + 13 > end or (buf[l4 + 12] >> 4) < 5:
            return -1, -1
        hl = np.int64(buf[l4 + 12] >> 4) * 4
    n = ipend - l4 - hl
    if n < 0:
        return -1, -1
    q = l4 + hl
    if n < 4 or q + 4 > end:
        return n, -1
    return n, np.int64(u32(buf, q, True))


@jit
def decode(buf, off, caplen, iface, dirhint, if_linktype, i0, n,
           direction, ip_version, src, dst, proto, sport, dport, tcp_flags, icmp_type,
           icmp_code, ethertype, vlan, arp, fragment, probe_seq, probe_send_ns, ppp_proto,
           payload_len, payload_head, ifindex, tab_hi, tab_lo, tab_kind, tab_code, uniq_hi, uniq_lo, uniq_kind, count, magic):
    half = tab_hi.shape[0] >> 1
    for i in range(i0, n):
        if count[0] + 2 > half:
            return i
        p = off[i]
        end = p + np.int64(caplen[i])
        lt = if_linktype[iface[i]]
        d = dirhint[i]
        et = -1
        vl = -1
        l3 = -1
        ifx = -1
        if lt == ETHERNET:
            if end - p >= 14:
                et = u16(buf, p + 12, True)
                q = p + 14
                while (et == 0x8100 or et == 0x88A8 or et == 0x9100) and q + 2 <= end:
                    if vl < 0:
                        vl = u16(buf, q, True) & 0xFFF
                    if q + 4 > end:
                        break
                    et = u16(buf, q + 2, True)
                    q += 4
                if et < 1536:
                    et = -1            # 802.3 length field: LLC, not decoded
                l3 = q
        elif lt == LINUX_SLL2:
            if end - p >= 20:
                et = u16(buf, p, True)
                ifx = u32(buf, p + 4, True)
                if d == DIR_NONE:
                    d = DIR_OUT if buf[p + 10] == 4 else DIR_IN
                l3 = p + 20
        elif lt == LINUX_SLL:
            if end - p >= 16:
                et = u16(buf, p + 14, True)
                if d == DIR_NONE:
                    d = DIR_OUT if u16(buf, p, True) == 4 else DIR_IN
                l3 = p + 16
        elif lt == RAW or lt == RAW_BSD12 or lt == RAW_BSD14:
            if end - p >= 1:
                v = buf[p] >> 4
                et = ET_IPV4 if v == 4 else (ET_IPV6 if v == 6 else -1)
                l3 = p
        elif lt == IPV4:
            et = ET_IPV4
            l3 = p
        elif lt == IPV6:
            et = ET_IPV6
            l3 = p
        elif lt == NULL or lt == LOOP:
            if end - p >= 4:
                fam = u32(buf, p, lt == LOOP)
                if fam > 0xFFFF:
                    fam = u32(buf, p, lt != LOOP)
                if fam == 2:
                    et = ET_IPV4
                elif fam == 10 or fam == 24 or fam == 28 or fam == 30:
                    et = ET_IPV6
                l3 = p + 4
        if (lt == LINUX_SLL or lt == LINUX_SLL2) and l3 >= 0:
            while (et == 0x8100 or et == 0x88A8) and l3 + 2 <= end:
                if vl < 0:
                    vl = u16(buf, l3, True) & 0xFFF
                if l3 + 4 > end:
                    break
                et = u16(buf, l3 + 2, True)
                l3 += 4
        ipet = et                  # ethertype of the header at l3 (after PPPoE / MPLS / MACsec)
        ppp = -1
        if et == ET_MACSEC and l3 >= 0:
            l3, ipet, vm = macsec_inner(buf, l3, end)
            if vl < 0:
                vl = vm
        elif l3 >= 0:
            l3, ipet, ppp = inner_ip(buf, l3, end, et)

        ver = 0
        sc = 0
        dc = 0
        pr = -1
        sp = -1
        dp = -1
        fl = -1
        it = -1
        ic = -1
        isarp = False
        frag = False
        pseq = -1
        psent = -1
        l4 = -1
        lim = end
        ipend = -1                 # end of the IP packet by its length field (uncut)
        plen4 = -1
        head = -1
        # Headers cut by the snap length yield what Wireshark shows: each field only
        # when its bytes (and those Wireshark reads before it) were captured.
        nib = buf[l3] >> 4 if l3 >= 0 and l3 < end else 0
        avail = end - l3
        if ipet == ET_IPV4 and nib == 4:
            ver = 4
            ihl = (buf[l3] & 15) * 4
            tot = u16(buf, l3 + 2, True) if avail >= 4 else -1
            if ihl >= 20 and avail >= 4 and (tot == 0 or tot >= ihl):   # else bogus
                if tot > 0 and l3 + tot < lim:
                    lim = l3 + tot
                if tot > 0:
                    ipend = l3 + tot
                fo = u16(buf, l3 + 6, True) if avail >= 8 else 0
                frag = (fo & 0x3FFF) != 0
                if avail >= 10:
                    pr = buf[l3 + 9]
                if avail >= 16:
                    sc = intern(np.uint64(0), np.uint64(u32(buf, l3 + 12, True)), 4, tab_hi,
                                tab_lo, tab_kind, tab_code, uniq_hi, uniq_lo, uniq_kind, count)
                if avail >= ihl:
                    dc = intern(np.uint64(0), np.uint64(u32(buf, l3 + 16, True)), 4, tab_hi,
                                tab_lo, tab_kind, tab_code, uniq_hi, uniq_lo, uniq_kind, count)
                    if (fo & 0x1FFF) == 0:
                        l4 = l3 + ihl
        elif (ipet == ET_IPV6 or ipet == ET_IPV4) and nib == 6:   # "ip" follows the nibble
            ver = 6
            if avail >= 7:
                pr = buf[l3 + 6]
            if avail >= 24:
                sc = intern(_be64(buf, l3 + 8), _be64(buf, l3 + 16), 6, tab_hi, tab_lo,
                            tab_kind, tab_code, uniq_hi, uniq_lo, uniq_kind, count)
            if avail >= 40:
                dc = intern(_be64(buf, l3 + 24), _be64(buf, l3 + 32), 6, tab_hi, tab_lo,
                            tab_kind, tab_code, uniq_hi, uniq_lo, uniq_kind, count)
                plen = u16(buf, l3 + 4, True)
                if plen > 0 and l3 + 40 + plen < lim:
                    lim = l3 + 40 + plen
                if plen > 0:
                    ipend = l3 + 40 + plen
                nh = buf[l3 + 6]
                q = l3 + 40
                first = True
                for _ in range(32):
                    if nh == 0 or nh == 43 or nh == 60:
                        if q + 2 > end:
                            break
                        nxt = buf[q]
                        q += (np.int64(buf[q + 1]) + 1) * 8
                        nh = nxt
                    elif nh == 44:
                        if q + 8 > end:
                            break
                        frag = True
                        if (u16(buf, q + 2, True) >> 3) != 0:
                            first = False
                        nh = buf[q]
                        q += 8
                    elif nh == 51:
                        if q + 2 > end:
                            break
                        nxt = buf[q]
                        q += (np.int64(buf[q + 1]) + 2) * 4
                        nh = nxt
                    else:
                        break
                pr = nh
                if first and nh != 0 and nh != 43 and nh != 60 and nh != 44 and nh != 51:
                    l4 = q
        elif ipet == ET_ARP and l3 >= 0:
            isarp = True
            if l3 + 8 <= end:
                hl = np.int64(buf[l3 + 4])
                pl = buf[l3 + 5]
                if u16(buf, l3 + 2, True) == ET_IPV4 and pl == 4 and l3 + 8 + 2 * hl + 8 <= end:
                    sc = intern(np.uint64(0), np.uint64(u32(buf, l3 + 8 + hl, True)), 4, tab_hi,
                                tab_lo, tab_kind, tab_code, uniq_hi, uniq_lo, uniq_kind, count)
                    dc = intern(np.uint64(0), np.uint64(u32(buf, l3 + 12 + 2 * hl, True)), 4,
                                tab_hi, tab_lo, tab_kind, tab_code, uniq_hi, uniq_lo,
                                uniq_kind, count)

        if l4 >= 0:
            if pr == 6 or pr == 17:
                if l4 + 4 <= end:
                    sp = u16(buf, l4, True)
                    dp = u16(buf, l4 + 2, True)
                # TCP flags: Wireshark reads up to the window (16 bytes) and needs a sane offset
                if pr == 6 and l4 + 16 <= end and (buf[l4 + 12] >> 4) >= 5:
                    fl = np.int64(buf[l4 + 13]) | ((np.int64(buf[l4 + 12]) & 1) << 8)
                elif pr == 17 and l4 + 8 <= end:
                    pseq, psent = probe_fields(buf, l4 + 8, min(lim, end), magic)
                plen4, head = _payload(buf, l4, end, ipend, pr, frag)
            elif pr == 132:
                if l4 + 12 <= end:          # the SCTP common header comes whole
                    sp = u16(buf, l4, True)
                    dp = u16(buf, l4 + 2, True)
            elif pr == 1:
                if l4 + 6 <= end:           # Wireshark's ICMP reads 6 bytes before any field
                    it = buf[l4]
                    ic = buf[l4 + 1]
            elif pr == 58:
                if l4 + 1 <= end:
                    it = buf[l4]
                if l4 + 2 <= end:
                    ic = buf[l4 + 1]

        direction[i] = d
        ip_version[i] = ver
        src[i] = sc
        dst[i] = dc
        proto[i] = pr
        sport[i] = sp
        dport[i] = dp
        tcp_flags[i] = fl
        icmp_type[i] = it
        icmp_code[i] = ic
        ethertype[i] = et
        vlan[i] = vl
        arp[i] = isarp
        fragment[i] = frag
        probe_seq[i] = pseq
        probe_send_ns[i] = psent
        ppp_proto[i] = ppp
        payload_len[i] = plen4
        payload_head[i] = head
        ifindex[i] = ifx
    return n
