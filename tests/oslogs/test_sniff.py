import json

import pytest

from ksaudit import KsauditError, read_events
from ksaudit.oslogs import list_formats, registry

SAMPLES = {
    "journald-json": json.dumps({"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1795587593463073",
                                 "MESSAGE": "x"}) + "\n",
    "journald-export": "__CURSOR=s=1\n__REALTIME_TIMESTAMP=1795587593463073\nMESSAGE=x\n\n",
    "journald-short-iso-precise": "2026-11-25T08:01:02.123456+0100 host kernel: x\n",
    "rfc3339-syslog": "2026-11-25T08:01:02.123+01:00 host kernel: x\n",
    "rfc5424": "<13>1 2026-11-25T08:01:02Z host app - - - x\n",
    "rfc3164": "Nov 25 08:01:02 host app[1]: x\n",
    "macos-system-log": "Nov 25 08:01:02 mac kernel[0]: AirPort: Link Up on en0\n",
    "networkmanager": "<info>  [1795587593.4631] manager: NetworkManager state is now CONNECTED_GLOBAL\n",
    "wireguard-go": "DEBUG: (wg0) 2026/11/25 08:01:02 Device started\n",
    "wg-quick": "2026-11-25T08:01:02+01:00 [#] ip link add wg0 type wireguard\n",
    "openvpn": "Tue Jan 31 22:38:26 2017 us=7 Initialization Sequence Completed\n",
    "macos-ndjson": json.dumps({"timestamp": "2023-02-23 10:44:02.761747+0100",
                                "eventMessage": "x"}) + "\n",
    "macos-json": json.dumps([{"timestamp": "2023-02-23 10:44:02.761747+0100", "eventMessage": "x"}]),
    "macos-log-text": "2023-02-23 10:44:02.761747+0100 0x1a2b     Default     0x0     0   0    kernel: x\n",
    "logcat": "11-25 08:01:02.123  1234  1250 I Vpn     : x\n",
    "ksaudit-probe": json.dumps({"ts_ns": 1, "seq": 1, "dst": "a:1", "result": "sent"}) + "\n",
    "evtx": b"ElfFile\x00" + b"\x00" * 64,
}


def test_every_format_has_a_sample():
    assert set(SAMPLES) == {name for name, _ in list_formats()}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_auto_picks_the_right_format(name):
    data = SAMPLES[name]
    head = data if isinstance(data, bytes) else data.encode()
    assert registry.sniff_format(head)[0] == name


@pytest.mark.parametrize("name", sorted(set(SAMPLES) - {"evtx"}))
def test_auto_reads_and_says_what_it_chose(write, name):
    data = SAMPLES[name]
    df = read_events(write(f"{name}.log", data), timezone="UTC", year=2026)
    assert len(df) >= 1
    assert df.attrs["files"][0].format == name
    assert df.attrs["files"][0].chosen_by == "sniffed"


def test_wrong_declared_format_names_what_it_looks_like(write):
    path = write("x.log", SAMPLES["logcat"])
    with pytest.raises(KsauditError, match="declared format rfc5424 but it looks like logcat"):
        read_events(path, format="rfc5424", timezone="UTC", year=2026)
