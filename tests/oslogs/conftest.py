import json

import pytest


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> path of a new file under tmp_path."""
    def _write(name, data):
        path = tmp_path / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path
    return _write


@pytest.fixture
def jline():
    """jline(rt_us, message, ident=..., mono_us=None, boot=..., **fields) -> one JSON line."""
    return journal_line


def journal_line(rt_us, message, ident="NetworkManager", mono_us=None, boot="b" * 32, **extra):
    rec = {"__CURSOR": f"s=x;i={rt_us:x}", "__REALTIME_TIMESTAMP": str(rt_us),
           "_BOOT_ID": boot, "PRIORITY": "6", "SYSLOG_IDENTIFIER": ident, "MESSAGE": message}
    if mono_us is not None:
        rec["__MONOTONIC_TIMESTAMP"] = str(mono_us)
    rec.update(extra)
    return json.dumps(rec) + "\n"
