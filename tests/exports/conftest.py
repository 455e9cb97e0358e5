"""Fixtures for the export tests: the leak tests' scenario builder, the lab samples, and
the JUnit schema CI systems validate against."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "leaks"))

from leak_builder import Builder  # noqa: E402

DATA = Path(__file__).with_name("data")


@pytest.fixture
def builder(tmp_path):
    return Builder(tmp_path / "scn")


@pytest.fixture(scope="session")
def junit_schema():
    """The Jenkins xUnit plugin's junit-10.xsd (tests/exports/data, source in its header)."""
    from lxml import etree
    return etree.XMLSchema(etree.parse(str(DATA / "junit-10.xsd")))
