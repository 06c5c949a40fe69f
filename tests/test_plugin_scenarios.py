"""The pytest plugin's handle works with every bundled scenario: it takes a permitted key and
the allowed namespace from the scenarios the session loads."""

import pytest

USER_SUITE = """
import pytest
from datetime import date, timedelta

@pytest.fixture(scope="session")
def cm_sim_scenarios():
    return [{scenario!r}]

def order():
    day = date.today() + timedelta(days=40)
    return {{"partnerId": "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e", "sellToOrderReference": "PLUGIN-1",
            "items": [{{"itemNumber": "31001", "visitDate": day.isoformat(), "visitTime": "10:30:00"}}]}}

def test_a_create_through_the_session(cm_sim):
    response = cm_sim.session.post(cm_sim.base_url, json=order(), timeout=30)
    assert response.status_code == 201, response.text

def test_a_create_in_process(cm_sim_inprocess):
    response = cm_sim_inprocess.session.post(cm_sim_inprocess.base_url, json=order(), timeout=30)
    assert response.status_code == 201, response.text
"""


@pytest.mark.parametrize("scenario", ["api-keys", "one-company"])
def test_the_handle_fits_a_scenario_that_restricts_keys_or_namespaces(pytester, scenario):
    pytester.makepyfile(test_user=USER_SUITE.format(scenario=scenario))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
