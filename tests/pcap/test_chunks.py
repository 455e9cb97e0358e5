"""iter_packet_chunks gives the same table as read_packets, in bounded pieces."""

import warnings

import pandas as pd
import pytest
from scapy.all import IP, UDP, Ether, IPv6

from ksaudit.errors import KsauditError
from ksaudit.pcap import CaptureWarning, concat_chunks, iter_packet_chunks, read_packets


def mixed_pcapng(gen, frames):
    pk = [bytes(Ether() / (IP(src=f"10.0.{i}.1", dst="10.9.9.9") if i % 3 else
                           IPv6(src=f"2001:db8::{i:x}", dst="::1")) / UDP(sport=i, dport=9))
          for i in range(40)]
    fr = frames(pk)
    blocks = [gen.shb(), gen.idb(1, name="eth0", tsresol=9)]
    for i, (t, d) in enumerate(fr):
        if i == 13:
            blocks += [gen.idb(1, name="eth1", tsresol=6), gen.block(0xBAD, b"note")]
        if i == 25:
            blocks += [gen.shb(big=True), gen.idb(1, name="eth2", tsresol=9, big=True)]
        big = i >= 25
        blocks.append(gen.epb(1 if 13 <= i < 25 and i % 2 else 0,
                              t // 1000 if 13 <= i < 25 and i % 2 else t, d, big=big))
    return b"".join(blocks)


@pytest.mark.parametrize("rows", [1, 7, 40, 1000])
def test_chunks_equal_whole(tmp_path, gen, frames, rows):
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(mixed_pcapng(gen, frames))
    whole = read_packets(path)
    chunks = list(iter_packet_chunks(path, rows=rows))
    assert all(len(c) <= rows for c in chunks)
    assert len(chunks) == -(-len(whole) // rows)
    joined = pd.concat(chunks, ignore_index=True)
    assert joined["frame"].tolist() == whole["frame"].tolist()
    assert whole["frame"].iloc[-1] == 41                   # the custom block takes a number
    for col in whole.columns:
        assert joined[col].astype(object).tolist() == whole[col].astype(object).tolist(), col
    # address codes are stable: each chunk's categories extend the previous ones
    for a, b in zip(chunks, chunks[1:]):
        ca, cb = list(a["src"].cat.categories), list(b["src"].cat.categories)
        assert cb[:len(ca)] == ca
    assert chunks[-1].attrs["packets"] == len(whole)


def test_chunks_of_truncated_file_warn_once(tmp_path, gen, frames):
    path = tmp_path / "cut.pcapng"
    path.write_bytes(mixed_pcapng(gen, frames)[:-7])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        n = sum(len(c) for c in iter_packet_chunks(path, rows=10))
    assert n == 39
    assert sum(issubclass(w.category, CaptureWarning) for w in caught) == 1


@pytest.mark.parametrize("rows", [0, -5, 2.5, "10"])
def test_bad_rows(tmp_path, gen, frames, rows):
    path = tmp_path / "x.pcapng"
    path.write_bytes(mixed_pcapng(gen, frames))
    with pytest.raises(KsauditError, match="rows"):
        next(iter_packet_chunks(path, rows=rows))


@pytest.mark.parametrize("rows", [1, 7, 1000])
def test_concat_chunks_keeps_categories(tmp_path, gen, frames, rows):
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(mixed_pcapng(gen, frames))
    whole = read_packets(path)
    joined = concat_chunks(iter_packet_chunks(path, rows=rows))
    for col in ("iface", "direction", "src", "dst"):
        assert isinstance(joined[col].dtype, pd.CategoricalDtype), col
    pd.testing.assert_frame_equal(joined, whole)
    assert joined.attrs == whole.attrs
    with pytest.raises(KsauditError, match="no chunks"):
        concat_chunks([])


def test_last_chunk_learns_of_a_truncation_found_after_it(tmp_path, gen, frames):
    path = tmp_path / "cut.pcapng"
    path.write_bytes(mixed_pcapng(gen, frames)[:-7])     # 39 complete frames, then a cut block
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        chunks = list(iter_packet_chunks(path, rows=39))   # the cut is found on the next call
        whole = read_packets(path)
    assert len(chunks) == 1 and chunks[-1].attrs["truncated"] is True
    assert chunks[-1].attrs == whole.attrs


def _read_in_batches(path, monkeypatch, rows):
    from ksaudit.pcap import reader
    monkeypatch.setattr(reader, "BATCH_ROWS", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        return read_packets(path)


@pytest.mark.parametrize("case", ["mixed", "truncated", "empty_frames", "lab_sll2"])
def test_read_packets_in_batches_equals_one_batch(tmp_path, gen, frames, monkeypatch, case):
    """read_packets walks and decodes a batch at a time (the file never resident whole);
    the table does not depend on the batch size, nor on its arrays growing (frames of
    0 bytes: more frames than the size estimate allows for)."""
    from pathlib import Path
    path = tmp_path / "cap"
    if case == "lab_sll2":
        path = Path(__file__).parents[2] / "captures/samples/2026.12.0-rig-b/strong-process-kill/client-any.pcap"
    elif case == "empty_frames":
        path.write_bytes(gen.pcap([(t, b"") for t, _ in frames([b""] * 300)]))
    else:
        data = mixed_pcapng(gen, frames)
        path.write_bytes(data[:-30] if case == "truncated" else data)
    whole = _read_in_batches(path, monkeypatch, 1 << 40)
    for rows in (1, 7):
        part = _read_in_batches(path, monkeypatch, rows)
        pd.testing.assert_frame_equal(part, whole)
        assert part.attrs == whole.attrs
    assert len(whole) == {"mixed": 40, "truncated": 39, "empty_frames": 300}.get(case, len(whole))
