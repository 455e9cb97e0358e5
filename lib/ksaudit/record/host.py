"""The host as its own tools show it: ``ip -d -j link`` and ``ip -j addr`` snapshots,
and the ``device`` fields of scenario.yaml taken from them.

Snapshots are taken at the start, after each event and at the end, because a VPN
client that restarts gets a new tunnel ifindex (a Linux ``any`` capture names its
interfaces only by index) and a network change brings new addresses.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import time

from ksaudit.errors import KsauditError

CMD_TIMEOUT_S = 10
TUNNEL_KINDS = ("wireguard", "tun", "xfrm", "vti", "vti6")     # ip -d link: linkinfo.info_kind
TUNNEL_LINK_TYPES = ("none", "ppp")                            # tun, WireGuard, PPP links


def check_can_record():
    """Raise a one-line KsauditError when this host cannot record (not root, no tcpdump/ip)."""
    if os.geteuid() != 0:
        raise KsauditError("record: needs root (tcpdump -i any, and the VPN client's interfaces)")
    for tool in ("tcpdump", "ip"):
        if shutil.which(tool) is None:
            raise KsauditError(f"record: '{tool}' not found on PATH (install "
                               f"{'tcpdump' if tool == 'tcpdump' else 'iproute2'})")


def ip_json(*args):
    """``ip -j ARGS`` parsed (a list of dicts)."""
    argv = ["ip", "-j", *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=CMD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KsauditError(f"record: {' '.join(argv)}: {exc}") from None
    if proc.returncode != 0:
        raise KsauditError(f"record: {' '.join(argv)} failed: {proc.stderr.strip()[-200:]}")
    return json.loads(proc.stdout or "[]")


def snapshot(when):
    """The links and addresses now, labelled ``when`` ("start", "trial 1", "end")."""
    return {"when": when, "ts_ns": time.time_ns(), "links": ip_json("-d", "link", "show"),
            "addrs": ip_json("addr", "show")}


def discover_tunnels(links):
    """Names of the links that look like VPN tunnels (WireGuard, tun, xfrm/vti, PPP)."""
    return [link["ifname"] for link in links
            if link.get("linkinfo", {}).get("info_kind") in TUNNEL_KINDS
            or link.get("link_type") in TUNNEL_LINK_TYPES]


def missing_links(names, links):
    present = {link["ifname"] for link in links}
    return [n for n in names if n not in present]


def ifindex(snapshots):
    """``device.ifindex`` from every snapshot, and a note for each index that changed name
    (the latest name is kept; the capture's frames on it may belong to either)."""
    out, notes = {}, []
    for snap in snapshots:
        for link in snap["links"]:
            idx, name = int(link["ifindex"]), link["ifname"]
            if out.get(idx, name) != name:
                notes.append(f"ifindex {idx} was {out[idx]} and then {name} ({snap['when']})")
            out[idx] = name
    return dict(sorted(out.items())), notes


def physical_interfaces(snapshots, tunnels):
    """Every non-loopback link that is not a tunnel, in any snapshot."""
    return sorted({link["ifname"] for snap in snapshots for link in snap["links"]
                   if link.get("link_type") != "loopback" and link["ifname"] not in tunnels})


def device_addresses(snapshots, tunnels):
    """The device's own addresses outside the tunnel: every address of a non-loopback,
    non-tunnel interface in any snapshot."""
    found = set()
    for snap in snapshots:
        for entry in snap["addrs"]:
            if entry.get("link_type") == "loopback" or entry.get("ifname") in tunnels:
                continue
            for info in entry.get("addr_info", []):
                if info.get("local"):
                    found.add(ipaddress.ip_address(info["local"]))
    return [str(a) for a in sorted(found, key=lambda a: (a.version, a))]


def route_notes(targets):
    """A note for each probe target this host has no route to now (``ip route get``)."""
    notes = []
    for target in targets:
        host = target[1:].partition("]:")[0] if target.startswith("[") else target.rpartition(":")[0]
        try:
            ip_json("route", "get", host)
        except KsauditError as exc:
            notes.append(f"probe target {target}: no route at the start of the run ({exc}); "
                         "the probe log shows what each attempt returned")
    return notes


def local_timezone():
    """The host's zone name (TZ, else /etc/localtime's zoneinfo link), else "UTC"."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" not in tz[:1]:
        return tz
    target = os.path.realpath("/etc/localtime")
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"
