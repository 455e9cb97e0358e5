"""The link types the packet engine reads: LINKTYPE values (tcpdump.org), their names,
and which of them start with the IP header.

The one table for the compiled decoder (``decode``), the scapy view of chosen frames
(``dissect``) and what the CLI prints (``cli``).
"""

NULL, ETHERNET, RAW_BSD12, RAW_BSD14, RAW, LOOP = 0, 1, 12, 14, 101, 108
LINUX_SLL, IPV4, IPV6, LINUX_SLL2 = 113, 228, 229, 276

NAMES = {NULL: "NULL", ETHERNET: "ETHERNET", RAW_BSD12: "RAW", RAW_BSD14: "RAW", RAW: "RAW",
         LOOP: "LOOP", LINUX_SLL: "LINUX_SLL", IPV4: "IPV4", IPV6: "IPV6",
         LINUX_SLL2: "LINUX_SLL2"}
# raw IP: IPv4 or IPv6 by the version nibble (the BSD values 12 and 14 are DLT_RAW too)
RAW_IP = frozenset({RAW_BSD12, RAW_BSD14, RAW})


def name(linktype):
    """The LINKTYPE name of a value, "?" for one the decoder does not read."""
    return NAMES.get(linktype, "?")
