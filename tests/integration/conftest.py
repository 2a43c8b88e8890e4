"""Fixtures for the integration tests; the helpers live in conduit_harness.py."""

import os

import pytest

import conduit_harness as h


def pytest_configure(config):
    if not os.access(h.CONDUIT_BIN, os.X_OK):
        raise pytest.UsageError(f"CONDUIT_BIN={h.CONDUIT_BIN} is not an executable")


@pytest.fixture
def echo():
    """A plain TCP echo upstream on loopback."""
    server = h.EchoServer()
    yield server
    server.close()


@pytest.fixture
def new_gateway():
    """Factory: new_gateway(**echo_config(...)) -> a started Gateway; start=False leaves
    it configured but not running. Every gateway is stopped and its log printed at
    teardown."""
    made = []

    def make(start=True, **config):
        gw = h.Gateway()
        made.append(gw)
        if config:
            gw.write_config(**config)
        if start:
            gw.start()
        return gw

    yield make
    for gw in made:
        gw.close()
