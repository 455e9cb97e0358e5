"""Recursive routing is not a contradicted declaration: with the physical link down and
the tunnel's routes still in, the client's own transport is routed into its tunnel (real
OpenVPN 2.6 in the lab during a Wi-Fi loss); a physical interface declared as the tunnel
still is one."""

import pytest

from ksaudit import analyze
from leak_builder import DEV4, ENDPOINT, MS, SINK, T0, TUN4, WG


def _looped(builder, src=TUN4, reply=False):
    """Probes into wg0 throughout; during [1000, 1500) ms their encapsulation goes back into
    wg0 from ``src`` (and, with ``reply``, one frame from the endpoint comes in on wg0)."""
    def state(t):
        return "loop" if 1000 <= t < 1500 else "up"

    builder.probes_run(0, 3000, lambda t: "up" if state(t) == "up" else "block")
    for t in range(1000, 1500, 10):
        ts = T0 + t * MS + 5_000
        builder.udp(ts, TUN4, SINK[0], 40000, SINK[1], b"KSAPROBE", ifindex=WG)
        builder.udp(ts + 20_000, src, ENDPOINT[0], 51000, ENDPOINT[1], b"\x04" + b"y" * 80,
                    ifindex=WG)
    if reply:
        builder.udp(T0 + 1200 * MS, ENDPOINT[0], src, ENDPOINT[1], 51000, b"\x04" + b"z" * 80,
                    ifindex=WG, out=False)
    builder.down_up(1000, 1500)


def test_transport_routed_into_its_own_tunnel_is_a_note(builder):
    _looped(builder)
    a = analyze(builder.write(**{"device.addresses": [DEV4]}))
    assert a.verdict.status == "PASS", a.verdict.reasons
    notes = [n for n in a.notes if "recursive routing" in n]
    assert len(notes) == 1 and notes[0].startswith("50 frame(s) to vpn.endpoints inside tunnel "
                                                   "interface(s) wg0 from 10.64.0.2, none back")


@pytest.mark.parametrize("src,reply", [(TUN4, True), (DEV4, False)],
                         ids=["endpoint-answers-inside", "from-the-device-address"])
def test_a_physical_interface_declared_as_the_tunnel_is_still_contradicted(builder, src, reply):
    _looped(builder, src=src, reply=reply)
    a = analyze(builder.write(**{"device.addresses": [DEV4]}))
    assert a.verdict.status == "INCONCLUSIVE"
    assert "declarations_contradicted" in {r.code for r in a.verdict.reasons}
    assert not [n for n in a.notes if "recursive routing" in n]
