"""Fixtures for the leak-analysis tests; the scenario builder lives in leak_builder.py."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from leak_builder import Builder  # noqa: E402


@pytest.fixture
def builder(tmp_path):
    return Builder(tmp_path / "scn")
