"""Puts tests/lib on sys.path so every suite can `import sgs`, prints the
run's random seed, and kills any process the helpers started that a test
left running."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import sgs  # noqa: E402


@pytest.fixture(scope="session")
def seed():
    return sgs.test_seed()


def pytest_sessionfinish(session, exitstatus):
    """After every fixture's own teardown (which stops its servers and checks
    their exit status), kills what a test left running."""
    sgs.kill_all_live()
