"""Fixtures of the record tests (the lab host lives in labhost.py, importable by the tests)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from labhost import lab_host, netns  # noqa: E402,F401  (the fixtures)
