"""Packet engine: any pcap/pcapng capture to the packet table (schema.PACKET_COLUMNS).

``read_packets`` reads a whole file, ``iter_packet_chunks`` reads it in bounded
pieces (``concat_chunks`` joins them), ``capture_info`` gives the file-level facts
without decoding frames.
Stages: ``scan`` (file structure) -> ``walk`` (compiled record walk) ->
``decode`` (compiled field decoder) -> ``table`` (DataFrame).
"""

from ksaudit.pcap.reader import (CaptureInfo, CaptureWarning, Interface, capture_info,
                                 concat_chunks, iter_packet_chunks, read_packets)

__all__ = ["CaptureInfo", "CaptureWarning", "Interface", "capture_info", "concat_chunks",
           "iter_packet_chunks", "read_packets"]
