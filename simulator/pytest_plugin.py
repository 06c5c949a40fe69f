"""pytest fixtures for testing a Channel Manager integration against the simulator.

- `cm_sim`: a real server on a free port for the whole session; each test gets its own
  clean namespace (a company of its own) and what it changed is undone afterwards.
- `cm_sim_inprocess`: a fresh simulator per test, reached through a requests session
  with no socket at all (faster; transport faults surface as ConnectionError).

Override `cm_sim_scenarios` (a list of scenario files) or `cm_sim_seed` in a conftest.py
to configure the session's server.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def cm_sim_scenarios() -> list:
    """Scenario files the session's server loads (override in your conftest.py)."""
    return []


@pytest.fixture(scope="session")
def cm_sim_seed():
    """The session server's seed for generated ids and numbers (None: random)."""
    return None


@pytest.fixture(scope="session")
def cm_sim_server(cm_sim_scenarios, cm_sim_seed):
    from simulator import Backend, create_app
    from simulator.server import ThreadedServer

    with ThreadedServer(create_app(Backend(scenarios=cm_sim_scenarios, seed=cm_sim_seed))) as server:
        yield server


@pytest.fixture
def cm_sim(cm_sim_server):
    """The session's simulator, with a namespace of this test's own."""
    import requests

    from simulator.testing import Simulator, for_scenarios

    with requests.Session() as session:
        scenarios = cm_sim_server.app.extensions["simulator"].scenarios
        simulator = Simulator(cm_sim_server.url, session, **for_scenarios(scenarios))
        yield simulator
        simulator.cleanup()


@pytest.fixture
def cm_sim_inprocess(cm_sim_scenarios, cm_sim_seed):
    """A fresh simulator for this test alone, called in process through `.session`."""
    import requests

    from simulator import Backend, create_app
    from simulator.testing import IN_PROCESS_URL, Simulator, WSGIAdapter, for_scenarios

    backend = Backend(scenarios=cm_sim_scenarios, seed=cm_sim_seed)
    with requests.Session() as session:
        session.mount(IN_PROCESS_URL + "/", WSGIAdapter(create_app(backend)))  # the slash: not localhost:8080
        yield Simulator(IN_PROCESS_URL, session, **for_scenarios(backend.scenarios))
    backend.stop()
