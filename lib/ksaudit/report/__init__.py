"""Reports: papermill-rendered verification reports per scenario and per build.

``render.render_build`` renders a build (what ``ksaudit render`` runs),
``verify.verify_build`` re-checks its hashes (``ksaudit verify``); ``views``,
``plots`` and ``stats`` are what the report notebooks call.
"""
