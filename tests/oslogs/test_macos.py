import json
from pathlib import Path

from ksaudit import read_events

NS = 10**9


def _rec(ts, msg, image="/usr/libexec/configd", **extra):
    rec = {"timestamp": ts, "eventMessage": msg, "processImagePath": image,
           "subsystem": "com.apple.SystemConfiguration", "category": "IPMonitor",
           "machTimestamp": 123456, "bootUUID": "B7A3-1", "processID": 77}
    rec.update(extra)
    return rec


RECORDS = [_rec("2023-02-23 10:44:02.761747+0100", "network changed: v4(en0+:192.0.2.5) DNS*"),
           _rec("2023-02-23 10:44:03.000001+0100",
                "NESMVPNSession[Primary Tunnel:x]: status changed to disconnecting",
                image="/usr/libexec/neagent")]


def test_ndjson_with_trailer(write):
    text = "".join(json.dumps(r) + "\n" for r in RECORDS) + '{"count":2,"finished":1}\n'
    df = read_events(write("log.ndjson", text))
    fact = df.attrs["files"][0]
    assert fact.format == "macos-ndjson" and fact.malformed == 0
    assert df["ts_ns"].tolist() == [1_677_145_442_761_747_000, 1_677_145_443_000_001_000]
    assert df["quantum_ns"].tolist() == [1000, 1000]
    assert df["kind"].tolist() == ["network_change", "tunnel_down"]
    assert df["ident"].tolist() == ["configd", "neagent"]
    assert df["boot_id"].tolist() == ["B7A3-1"] * 2


def test_json_array_and_cut_off_file(write):
    text = json.dumps(RECORDS + [{"count": 2, "finished": 1}], indent=2)
    df = read_events(write("log.json", text))
    assert df.attrs["files"][0].format == "macos-json"
    assert len(df) == 2 and df["line"].iloc[0] == 2
    cut = text[: text.index("NESMVPNSession") + 5]
    df = read_events(write("cut.json", cut), format="macos-json")
    assert len(df) == 1 and df.attrs["files"][0].malformed == 1


def test_log_show_default_text(write):
    text = ("Filtering the log data using \"process == \\\"kernel\\\"\"\n"
            "Timestamp                       Thread     Type        Activity             PID    TTL  \n"
            "2023-02-23 10:44:02.761747+0100 0x1a2b     Default     0x0                  0      0    "
            "kernel: (IO80211Family) AirPort: Link Down on en0. Reason 8\n"
            "2023-02-23 10:44:05.000000+0100 0x1a2b     Default     0x0                  0      0    "
            "kernel: Wake reason: EC.LidOpen (User)\n"
            "--------------------------------------------------------------------------------\n"
            "Log      - Default:          2, Info:                0, Debug:             0\n")
    df = read_events(write("log.txt", text))
    assert df.attrs["files"][0].format == "macos-log-text"
    assert df.attrs["files"][0].malformed == 0
    assert df["ts_ns"].tolist() == [1_677_145_442_761_747_000, 1_677_145_445 * NS]
    assert list(zip(df["kind"], df["iface"])) == [("link_down", "en0"), ("wake", "")]
    assert df["ident"].tolist() == ["kernel", "kernel"]


def test_log_show_compact_needs_zone(write):
    text = "2023-02-23 10:44:02.761 Df configd[77:1a2b] [com.apple.x:y] network changed: v4\n"
    df = read_events(write("c.txt", text), timezone="Europe/Paris")
    assert df["ts_ns"].tolist() == [1_677_145_442_761_000_000]
    assert df["quantum_ns"].tolist() == [1_000_000]
    assert df["kind"].tolist() == ["network_change"]


def test_legacy_system_log(write):
    text = ("Feb 23 10:44:02 MacBook-Pro kernel[0]: AirPort: Link Up on en1\n"
            "Feb 23 10:44:03 MacBook-Pro kernel[0]: System Sleep\n")
    df = read_events(write("system.log", text), timezone="UTC", year=2023)
    assert df.attrs["files"][0].format == "macos-system-log"
    assert df["kind"].tolist() == ["link_up", "sleep"]
    assert df["iface"].tolist() == ["en1", ""]


PREAMBLE = ('Filtering the log data using "subsystem == \\"com.apple.networkextension\\""\n'
            "Skipping info and debug messages, pass --info and/or --debug to include.\n")


def test_log_show_preamble_before_json_records(write):
    ndjson = PREAMBLE + "".join(json.dumps(r) + "\n" for r in RECORDS) + '{"count":2,"finished":1}\n'
    array = PREAMBLE + json.dumps(RECORDS + [{"count": 2, "finished": 1}], indent=2)
    for name, text, fmt, lines in (("a.ndjson", ndjson, "macos-ndjson", [3, 4]),
                                   ("a.json", array, "macos-json", [4, 14])):
        df = read_events(write(name, text))
        fact = df.attrs["files"][0]
        assert (fact.format, fact.chosen_by, fact.malformed) == (fmt, "sniffed", 0)
        assert df["kind"].tolist() == ["network_change", "tunnel_down"]
        assert df["line"].tolist() == lines


def test_real_log_show_default_style():
    """``sudo log show --info --debug --predicate ...`` on macOS (2023): the filter line,
    the column header, four records (+0800, µs) and the closing rule and summary, which
    log show indents by one space: no record is lost and nothing counts as malformed."""
    df = read_events(Path(__file__).with_name("data") / "macos-log-show.log")
    fact = df.attrs["files"][0]
    assert (fact.format, fact.events, fact.malformed) == ("macos-log-text", 4, 0)
    assert df["line"].tolist() == [3, 4, 5, 6]
    assert df["ts_ns"].iloc[0] == 1_697_277_234_688_700_000       # 17:53:54.6887+0800
    assert set(df["quantum_ns"]) == {1000} and set(df["ident"]) == {"ImagePreview"}
    assert set(df["message"]) == {"An error occurred!"}


def test_found_by_fuzzing_non_text_identifier_fields(write):
    """``processImagePath`` or ``subsystem`` that are not text crashed the identifier
    (os.path.basename(True), then the rules' string column): they are ignored."""
    rec = {"timestamp": "2023-02-23 10:44:02.761747+0100", "eventMessage": "x",
           "processImagePath": True, "subsystem": ["a"]}
    for name, text in (("a.ndjson", json.dumps(rec) + "\n"), ("a.json", json.dumps([rec]))):
        df = read_events(write(name, text))
        assert df["ident"].tolist() == [""] and df["message"].tolist() == ["x"]
