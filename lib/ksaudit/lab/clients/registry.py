"""The client registry: names, packaged client files, the servers a client file may ask
for, and ``check``/``make`` (docs/lab.md "Clients").  A client written in Python is added
to ``CLASSES``; a server protocol to ``SERVERS``."""

import os
from importlib import import_module

from ksaudit.errors import KsauditError
from ksaudit.lab.clients.base import WireGuardServer
from ksaudit.lab.clients.openvpn import OpenVPNServer

DEFAULT = "wireguard-go"
# clients written in Python: name -> "module:class" (imported when used)
CLASSES = {DEFAULT: "ksaudit.lab.clients.harness:HarnessClient",
           "openvpn": "ksaudit.lab.clients.openvpn:OpenVPNClient"}
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")
# a client name given as a file: the packaged definitions
NAMED_FILES = {"wg-quick": os.path.join(EXAMPLES, "wg-quick.yaml")}
NAMES = (*CLASSES, *NAMED_FILES)
SERVERS = {"wireguard": WireGuardServer, "openvpn": OpenVPNServer}


def _spec(client):
    """The checked client-file spec of ``client`` (a name in NAMED_FILES or a path)."""
    from ksaudit.lab.clients.spec import load_spec
    if client in NAMED_FILES:
        return load_spec(NAMED_FILES[client], SERVERS, label=client)
    if os.sep not in client and not client.endswith((".yaml", ".yml")):
        raise KsauditError(f"lab: unknown client {client!r} (one of {', '.join(NAMES)}, "
                           "or the path of a client file)")
    return load_spec(client, SERVERS)


def _class(client):
    module, _, name = CLASSES[client].partition(":")
    return getattr(import_module(module), name)


def check(client, policy):
    """One-line KsauditError when ``client`` cannot run or cannot run ``policy``
    (before anything is made)."""
    if client in CLASSES:
        if policy == "client" and not _class(client).supports_client_policy:
            raise KsauditError(f"lab: --policy client needs a client with its own protection "
                               f"({client} has none; try --client wg-quick)")
        return
    spec = _spec(client)
    if policy == "client" and spec["protection"] is None:
        raise KsauditError(f"lab: --policy client: client {spec['name']} declares no "
                           "'protection' of its own")


def make(client, ctx):
    """The Client object for ``client`` in this run's context."""
    if client in CLASSES:
        return _class(client)(ctx)
    from ksaudit.lab.clients.filedriven import FileClient
    spec = _spec(client)
    return FileClient(ctx, spec, SERVERS[spec["server"]])
