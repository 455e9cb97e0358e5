"""ksaudit: audit and forensics for VPN kill switches.

Data flow: ``pcap`` (packet table) -> ``oslogs`` (event table) -> ``align``
(one reference clock) -> ``leaks`` (episodes, leaks, verdict) -> ``report``.
"""

from importlib import import_module

from ksaudit.errors import KsauditError

__version__ = "0.1.0"

# Public API, imported lazily so that `ksaudit --help` stays fast.
_EXPORTS = {
    "read_packets": "ksaudit.pcap",
    "iter_packet_chunks": "ksaudit.pcap",
    "concat_chunks": "ksaudit.pcap",
    "capture_info": "ksaudit.pcap",
    "dissect": "ksaudit.pcap.dissect",
    "read_events": "ksaudit.oslogs",
    "align": "ksaudit.align.events",
    "analyze": "ksaudit.leaks",
    "load_scenario": "ksaudit.scenario",
}

__all__ = ["KsauditError", "__version__", *_EXPORTS]




def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ksaudit' has no attribute {name!r}")
    return getattr(import_module(module), name)


def _load_stage(name):
    """Importing the stage package ``ksaudit.<name>`` binds it here as an attribute, which
    would shadow the function of the same name; remove that binding so ``ksaudit.<name>``
    always reaches the function through ``__getattr__`` (the package stays importable
    as ``ksaudit.<name>.…`` through ``sys.modules``).  Load it now, before anyone else
    can, so the binding is made (and removed) here once."""
    import_module(f"ksaudit.{name}")        # lazy re-exports only: loads no numpy
    globals().pop(name, None)


_load_stage("align")
