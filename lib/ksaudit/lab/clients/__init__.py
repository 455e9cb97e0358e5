"""The lab's VPN clients (``ksaudit lab run --client NAME|FILE``), docs/lab.md "Clients".

``wireguard-go`` (default) is the harness: wireguard-go's data plane, the harness's
control plane (`harness`).  Every other client is real and described by a client file
(`filedriven`): ``wg-quick`` is the packaged ``examples/wg-quick.yaml``; a path to a
YAML file brings your own.  ``openvpn`` is real OpenVPN 2.6, server and client, driven
in Python (`openvpn`: its PKI, management socket and restarts).  ``base`` holds what
they share (firewall, link, resolver, bookkeeping) and the servers a client file can
ask for.
"""

from ksaudit.lab.clients.registry import (CLASSES, DEFAULT, NAMED_FILES, NAMES, SERVERS, check,
                                          make)

__all__ = ["CLASSES", "DEFAULT", "NAMED_FILES", "NAMES", "SERVERS", "check", "make"]
