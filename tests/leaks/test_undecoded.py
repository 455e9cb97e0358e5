"""Frames read from real bytes (scapy-built, written by dpkt) through the classifier:
what the decoder cannot see into is a possible leak, never link upkeep, and tunnel
overlays (VXLAN, Geneve) are judged by the outer header, the packet that leaves."""

import importlib.util
import pathlib

import dpkt
import numpy as np
import pandas as pd
import pytest
import yaml

from ksaudit.leaks.classify import DeviceAddresses, classify
from ksaudit.pcap import read_packets
from ksaudit.scenario import load_scenario

_spec = importlib.util.spec_from_file_location(
    "ksaudit_tests_encap", pathlib.Path(__file__).parents[1] / "pcap" / "test_encap.py")
encap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(encap)

DEV = DeviceAddresses(("192.168.1.23", "2001:db8::23"), True, "declared")


def _packets(tmp_path):
    path = tmp_path / "d.pcapng"
    cases = encap.overlay_and_macsec_packets()
    with open(path, "wb") as fh:
        w = dpkt.pcapng.Writer(fh)
        for i, (pkt, _) in enumerate(cases):
            w.writepkt(bytes(pkt), ts=1_795_587_593 + i / 1000)
    df = read_packets(path)
    df["iface"] = pd.Categorical(["eth0"] * len(df))
    df["capture"] = np.zeros(len(df), np.int16)
    return df


def _scenario(tmp_path, endpoints, **policy):
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump({
        "build": "t", "device": {"tunnel_interfaces": ["wg0"], "physical_interfaces": ["eth0"]},
        "vpn": {"endpoints": endpoints}, "policy": policy, "captures": [{"file": "d.pcapng"}]}))
    return load_scenario(tmp_path)


@pytest.mark.parametrize("allow_lan", [False, True])
def test_undecoded_frames_are_leaks_of_category_other(tmp_path, allow_lan):
    df = _packets(tmp_path)
    rule, cat = classify(df, _scenario(tmp_path, ["198.51.100.2:51820/udp"],
                                       allow_lan=allow_lan), ["device"], DEV)
    rule, cat = rule.astype(str), cat.astype(str)
    undecoded = (df["ip_version"].to_numpy() == 0) & ~df["arp"].to_numpy()
    assert undecoded.sum() == 5          # encrypted / changed / short MACsec, two vendor types
    assert (rule[undecoded] == "leak").all() and (cat[undecoded] == "other").all()
    arp = df["arp"].to_numpy()
    assert list(rule[arp]) == ["link_upkeep"]     # ARP inside cleartext MACsec
    # overlays to a host that is no VPN endpoint leak by their outer header
    overlay = np.isin(df["dport"].to_numpy(), (4789, 6081))
    assert list(rule[overlay]) == ["leak"] * 3 and list(cat[overlay]) == ["ipv4", "ipv4", "ipv6"]


def test_overlay_to_a_declared_endpoint_is_tunnel_transport(tmp_path):
    df = _packets(tmp_path)
    sc = _scenario(tmp_path, ["198.51.100.7:4789/udp", "198.51.100.7:6081/udp"])
    rule, _ = classify(df, sc, ["device"], DEV)
    overlay = np.isin(df["dport"].to_numpy(), (4789, 6081))
    # the inner destinations (8.8.8.8, 9.9.9.9) do not make the outer packet a leak
    assert list(rule.astype(str)[overlay]) == ["tunnel_transport", "tunnel_transport", "leak"]
