import pytest

from simulator import Backend, create_app
from tests.helpers import Api

pytest_plugins = ["pytester"]


@pytest.fixture
def backend():
    return Backend(seed=1234)


@pytest.fixture
def app(backend):
    return create_app(backend)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client):
    return Api(client)
