"""A high-fidelity simulator of NaviPartner's Channel Manager API.

>>> from simulator import create_app
>>> client = create_app().test_client()
>>> client.get("/_sim/health").status_code
200
"""

from simulator.app import create_app
from simulator.backend import Backend
from simulator.scenario import ScenarioError, parse_scenario
from simulator.transport import TransportFault

__all__ = ["Backend", "ScenarioError", "TransportFault", "create_app", "parse_scenario"]
