"""Reports: papermill-rendered verification reports per scenario and per build.

``render_build`` renders a build (what ``ksaudit render`` runs) and
``verify_build`` re-checks its hashes (``ksaudit verify``); ``views``, ``plots``,
``stats``, ``buildviews`` and ``explore`` are what the notebooks call.
"""

from importlib import import_module

_EXPORTS = {"render_build": "ksaudit.report.render", "verify_build": "ksaudit.report.verify",
            "wilson_interval": "ksaudit.report.stats"}

__all__ = list(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ksaudit.report' has no attribute {name!r}")
    return getattr(import_module(module), name)
