"""Declarations in scenario.yaml weighed against the evidence, and what they decided.

A verdict is only as good as what scenario.yaml says about the device: which
interfaces are the tunnel, which addresses are the device's, where the VPN
endpoint is, what policy allows.  A typo there can turn every leak into an allowed
frame.  So before the verdict:

- ``device_addresses_unknown`` (INCONCLUSIVE): no device address is declared or
  inferable while an external vantage point needs one; or the declared
  ``device.addresses`` appear in no frame of any capture and no device vantage point
  shows the device's own sources (a typo: every frame would become ``not_device``).
- ``declarations_contradicted`` (INCONCLUSIVE): frames to or from a declared VPN
  endpoint (address and port) inside a declared tunnel interface -- a tunnel never
  carries its own transport, so that "tunnel" is a physical interface (wrong
  ``device.tunnel_interfaces`` or ``device.ifindex``); or the tunnel carried traffic
  but no capture shows its transport on any other interface (the physical interface
  was not captured, or the declarations do not describe this capture).
  One exception, recursive routing: when the route to the endpoint goes away (the
  physical link is down) while the tunnel's routes stay, the client's own transport
  is routed into its tunnel (OpenVPN drops it: "Recursive routing detected").  Those
  frames only go *to* the endpoint, from an address that is not a declared device
  address (the tunnel's own), and nothing comes back from the endpoint inside the
  tunnel; a physical interface declared as a tunnel carries the endpoint's frames in
  both directions.  They are a note, not a contradiction.

And in the analysis notes, so the reader sees which declarations were load-bearing:
how many frames each ``policy.allow`` rule and each ``vpn.endpoints`` entry allowed
that would otherwise have been leaks, and which captures have no drop counter.
"""

from __future__ import annotations

import numpy as np

from ksaudit.leaks import classify as cl
from ksaudit.reasons import Reason


def evidence_reasons(packets, sc, vantages, device) -> list:
    """Reasons that hold for the whole scenario (module docstring)."""
    out = []
    external = any(v == "external" for v in vantages)
    if not device.addresses and external:
        out.append(Reason("device_addresses_unknown", "no device address declared or inferable: "
                    "frames at the external vantage point cannot be attributed"))
    if sc.addresses and len(packets):
        seen = _seen_addresses(packets)
        declared = [str(a) for a in _declared(sc)]
        extra = set(device.addresses) - set(declared)
        if not seen & set(declared) and not extra:
            out.append(Reason("device_addresses_unknown", f"device.addresses ({', '.join(declared)}) "
                        "appear in no frame of any capture and no device vantage point shows "
                        "the device sending: no frame can be attributed to the device "
                        "(check the addresses for a typo)"))
    out.extend(_contradictions(packets, sc, vantages))
    return out


def _endpoint_in_tunnel(packets, sc, vantages):
    """(tunnel, to, from): device-vantage frames on a declared tunnel interface, and
    those of them to / from a declared endpoint address and port."""
    dev_v = cl.device_vantage_mask(packets, vantages)
    tunnel = dev_v & cl._isin(packets["iface"], sc.tunnel_interfaces)
    precise = [e for e in sc.endpoints if e.port is not None]
    none = np.zeros(len(packets), bool)
    if not precise or not tunnel.any():
        return tunnel, none, none
    return (tunnel, tunnel & cl._endpoint_match(packets, precise, "dst", "dport"),
            tunnel & cl._endpoint_match(packets, precise, "src", "sport"))


def _recursive_routing(packets, sc, to_ep, from_ep) -> bool:
    """The endpoint frames inside the tunnel are recursive routing (module docstring)."""
    if not to_ep.any() or from_ep.any():
        return False
    return not cl.values_where(packets["src"], to_ep) & {str(a) for a in _declared(sc)}


def _contradictions(packets, sc, vantages) -> list:
    if not len(packets) or not sc.tunnel_interfaces:
        return []
    tunnel, to_ep, from_ep = _endpoint_in_tunnel(packets, sc, vantages)
    precise = [e for e in sc.endpoints if e.port is not None]
    inside = to_ep | from_ep
    if inside.any() and not _recursive_routing(packets, sc, to_ep, from_ep):
        ifaces = sorted(cl.values_where(packets["iface"], inside))
        return [Reason("declarations_contradicted", f"{int(inside.sum())} frame(s) to or from "
                 f"vpn.endpoints ({', '.join(e.text for e in precise)}) inside declared tunnel "
                 f"interface(s) {', '.join(ifaces)}: a tunnel does not carry its own transport, "
                 "so device.tunnel_interfaces or device.ifindex name a physical interface")]
    if not tunnel.any() or not sc.endpoints:
        return []
    transport = ~tunnel & (cl._endpoint_match(packets, sc.endpoints, "dst", "dport")
                           | cl._endpoint_match(packets, sc.endpoints, "src", "sport"))
    if transport.any():
        return []
    return [Reason("declarations_contradicted", f"{int(tunnel.sum())} frame(s) inside the tunnel, but "
             "no capture shows its transport to vpn.endpoints "
             f"({', '.join(e.text for e in sc.endpoints)}) outside it: the physical interface "
             "was not captured, or the declarations do not describe this capture")]


def notes(sc, packets, vantages, device, facts, classification) -> list:
    """Plain statements for the analysis notes (module docstring)."""
    seen_ifaces = {i for f in facts if f["vantage"] == "device" for i in f["interfaces"]}
    out = []
    absent = [n for n in sc.tunnel_interfaces if n not in seen_ifaces]
    if seen_ifaces and absent:
        verb = "appears" if len(absent) == 1 else "appear"
        out.append(f"device.tunnel_interfaces {', '.join(absent)} {verb} in no device "
                   f"capture (interfaces seen: {', '.join(sorted(seen_ifaces))})")
    if sum(f["packets"] for f in facts) and not classification.get("tunnel_transport"):
        out.append("no frame went to or came from a declared vpn.endpoints address, port and "
                   f"protocol ({', '.join(e.text for e in sc.endpoints)})")
    if sc.addresses and len(packets):
        unseen = [a for a in map(str, _declared(sc)) if a not in _seen_addresses(packets)]
        if unseen:
            out.append(f"device.addresses {', '.join(unseen)} appear in no frame of any capture")
    if len(packets) and sc.tunnel_interfaces:
        _, to_ep, from_ep = _endpoint_in_tunnel(packets, sc, vantages)
        if _recursive_routing(packets, sc, to_ep, from_ep):
            out.append(f"{int(to_ep.sum())} frame(s) to vpn.endpoints inside tunnel interface(s) "
                       f"{', '.join(sorted(cl.values_where(packets['iface'], to_ep)))} from "
                       f"{', '.join(sorted(cl.values_where(packets['src'], to_ep)))}, none back: "
                       "recursive routing (the route to the endpoint went through the tunnel, as "
                       "when the physical link is down), not a physical interface declared as "
                       "the tunnel")
    if len(packets) and "rule" in packets:
        out.extend(_allowance_notes(sc, packets, vantages, device))
    for f in facts:
        if not f["missing"] and f.get("dropped") is None:
            out.append(f"{f['file']}: no drop counter (no pcapng interface statistics, no "
                       "`dropped:` declared in scenario.yaml): nothing proves that the capture "
                       "tool dropped no frame")
    return out


def _allowance_notes(sc, packets, vantages, device) -> list:
    """How many frames each allow rule and each endpoint turned from leaks into allowed."""
    from_dev, to_dev = cl.sent_and_received(packets, vantages, device)
    rule = packets["rule"].cat.codes.to_numpy()
    out = []
    allowed = rule == cl.RULES.index("scenario_rule")
    for r in sc.allow:
        hit = allowed & cl.allow_match(packets, r, from_dev, to_dev)
        allowed &= ~hit                                   # first matching rule counts it
        sent, got = int((hit & from_dev).sum()), int((hit & to_dev).sum())
        if sent or got:
            out.append(f"policy.allow {r.text!r} allowed {sent} frame(s) the device sent "
                       f"outside the tunnel (and {got} it received) that would otherwise be "
                       "leaks (replies)")
    carried = rule == cl.RULES.index("tunnel_transport")
    for e in sc.endpoints:
        hit = carried & cl.endpoint_match(packets, (e,), from_dev, to_dev)
        carried &= ~hit
        sent = int((hit & from_dev).sum())
        if sent:
            out.append(f"vpn.endpoints {e.text!r} allowed {sent} frame(s) the device sent "
                       "outside the tunnel as tunnel transport (they would be leaks without "
                       "this declaration)")
    return out


def _declared(sc) -> list:
    import ipaddress
    return [ipaddress.ip_address(a) for a in sc.addresses]


def _seen_addresses(packets) -> set:
    every = np.ones(len(packets), bool)
    return cl.values_where(packets["src"], every) | cl.values_where(packets["dst"], every)
