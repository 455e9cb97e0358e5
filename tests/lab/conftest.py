"""Lab test fixtures: skip with a clear reason where the lab cannot run."""

import functools
import os
import shutil
import subprocess

import pytest


@functools.lru_cache(maxsize=1)
def lab_unavailable():
    """None when the lab can run here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces, nftables, /dev/net/tun)"
    for tool in ("ip", "nft", "wg", "wireguard-go", "tcpdump"):
        if shutil.which(tool) is None:
            return f"lab tests need '{tool}' (bash .ci/install)"
    if not os.path.exists("/dev/net/tun"):
        return "lab tests need /dev/net/tun (wireguard-go)"
    probe = "ksaudit-lab-probe-netns"
    proc = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        return f"cannot create a network namespace here: {proc.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    return None


@pytest.fixture
def lab():
    """Skips the test when the lab cannot run; yields the leftovers found before it."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    from ksaudit.lab import topology
    return topology.leftovers()


def processes_mentioning(text):
    """PIDs whose command line contains ``text`` (run ids are in every lab process's argv)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            pids.append(int(entry))
    return pids


def assert_nothing_left(run_id):
    """No namespace, WireGuard socket or process of run ``run_id`` remains."""
    from ksaudit.lab import topology
    left = topology.leftovers()
    assert not [n for n in left["namespaces"] if run_id in n], left
    assert not [s for s in left["sockets"] if run_id in s], left
    assert not [w for w in left["workdirs"] if run_id in w], left
    assert processes_mentioning(run_id) == []
