"""Options of the fault tests: ``--long-fuzz`` runs the long fuzz (thousands of mutated frames).

``pytest tests/faults --long-fuzz`` (this file is then read before the command line is parsed). Pytest
reads a conftest below the directories named on the command line only later, so for a run of the
whole suite the same switch is the environment variable ``INTERVIEW_KIT_LONG_FUZZ=1``.
"""

from __future__ import annotations

import os

import pytest

LONG_FUZZ_ENV = "INTERVIEW_KIT_LONG_FUZZ"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long-fuzz", action="store_true", default=False,
                     help="also run the long fuzz of the session against mutated server frames (minutes)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "long_fuzz: the long fuzz; runs only with --long-fuzz")


def long_fuzz_wanted(config: pytest.Config) -> bool:
    return bool(config.getoption("--long-fuzz", default=False)) or os.environ.get(LONG_FUZZ_ENV) == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if long_fuzz_wanted(config):
        return
    skip = pytest.mark.skip(reason="the long fuzz takes minutes: run it with `pytest tests/faults "
                                   f"--long-fuzz` (or {LONG_FUZZ_ENV}=1)")
    for item in items:
        if "long_fuzz" in item.keywords:
            item.add_marker(skip)
