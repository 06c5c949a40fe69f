"""A handle on a running simulator for tests: its partner API base URL, a requests
session, and the control API (faults, scenarios, clock, journal) scoped to one namespace.

The pytest plugin (simulator.pytest_plugin) hands one to each test.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

TENANT = "01234567-89ab-cdef-0123-456789abcdef"
ENVIRONMENT = "production"
API_KEY = "pytest-key"
IN_PROCESS_URL = "http://localhost"  # a loopback name: the control API answers it without a token


class Simulator:
    """By default each handle has a company of its own, tenant TENANT, environment ENVIRONMENT
    and key API_KEY; give others where a loaded scenario restricts keys or namespaces
    (`for_scenarios` picks them from the scenarios)."""

    def __init__(
        self,
        url: str,
        session: requests.Session,
        company: str | None = None,
        tenant: str = TENANT,
        environment: str = ENVIRONMENT,
        api_key: str = API_KEY,
    ):
        self.url = url.rstrip("/")
        self.session = session
        self.session.headers.setdefault("x-np-api-key", api_key)
        self.tenant = tenant
        self.environment = environment
        self.company = company or f"pytest-{uuid.uuid4().hex[:12]}"
        self.base_url = f"{self.url}/{self.tenant}/{self.environment}/{quote(self.company)}/channelManager"

    # -- the control API -------------------------------------------------

    def add_fault(self, **rule) -> str:
        """Add a fault rule (scenario-file keys) that only this namespace's calls match."""
        scoped = {"tenant": self.tenant, "environment": self.environment, "company": self.company, **rule}
        return self._control("POST", "/faults", json=scoped)["ids"][0]

    def load_scenario(self, scenario: str | Path) -> None:
        """Load a scenario file (read here, so it may be anywhere) or TOML text for the whole
        server; undone after the test."""
        name = None
        if isinstance(scenario, Path) or (
            isinstance(scenario, str) and scenario.endswith(".toml") and "\n" not in scenario
        ):
            name, scenario = str(Path(scenario).resolve()), Path(scenario).read_text(encoding="utf-8")
        self._control(
            "POST",
            "/scenarios",
            params={"name": name} if name else None,
            data=scenario.encode(),
            headers={"Content-Type": "application/toml"},
        )

    def set_clock(self, now: str, frozen: bool = True) -> None:
        """Set the server's clock (for every namespace); back to real time after the test."""
        self._control("PUT", "/clock", json={"now": now, "frozen": frozen})

    def advance_clock(self, **units: float) -> str:
        return self._control("POST", "/clock/advance", json=units)["now"]

    def journal(self, **filters) -> list[dict]:
        """This namespace's recorded calls, oldest first (filters as GET /_sim/journal takes)."""
        query = {"tenant": self.tenant, "environment": self.environment, "company": self.company, **filters}
        return self._control("GET", "/journal", params=query)

    def ota_run(self, everything: bool = False) -> list[dict]:
        """Settle the due OTA orders now (every submitted one with `everything`)."""
        return self._control("POST", "/ota/run", json={"everything": everything})

    def flush_webhooks(self, timeout: float = 30) -> bool:
        return self._control("POST", "/webhooks/flush", json={"timeout": timeout})["flushed"]

    def release(self, order_id: str) -> dict:
        return self._control("POST", f"/orders/{order_id}/release")

    def reset(self) -> None:
        """Empty this namespace."""
        self._control(
            "POST", "/reset", json={"tenant": self.tenant, "environment": self.environment, "company": self.company}
        )

    def cleanup(self) -> None:
        """The server goes back to how the session started it: orders, journal, clock, and the
        scenarios' rules and limits with fresh counters, so no test sees another's traces."""
        self._control("POST", "/reset")

    def _control(self, method: str, path: str, **kwargs):
        response = self.session.request(method, f"{self.url}/_sim{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"control API {method} {path}: {response.status_code} {response.text}")
        return response.json()


class WSGIAdapter(BaseAdapter):
    """Send a requests.Session's calls straight into a WSGI app: no socket, no thread."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        from werkzeug.test import Client

        from simulator.transport import TransportFault

        parts = urlsplit(request.url)
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        elif body is not None and not isinstance(body, bytes):
            body = b"".join(body)  # a generator or file: what a chunked upload would send
        try:
            answered = Client(self.app).open(
                path=parts.path,
                query_string=parts.query,
                method=request.method,
                headers=dict(request.headers),
                data=body,
                base_url=f"{parts.scheme}://{parts.netloc}",
            )
        except TransportFault as fault:
            failure = requests.exceptions.ReadTimeout if fault.kind == "hang" else requests.exceptions.ConnectionError
            raise failure(str(fault), request=request) from fault
        response = requests.Response()
        response.status_code = answered.status_code
        response.reason = answered.status.split(" ", 1)[-1]
        response.headers = CaseInsensitiveDict(answered.headers)
        response._content = answered.get_data()
        response.raw = io.BytesIO(response._content)  # for stream=True readers
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def for_scenarios(scenarios) -> dict:
    """Handle options the loaded scenarios call for: a key with the Channel Manager permission
    where they restrict keys, and their first tenant, environment and company where they
    restrict namespaces (tests then share that company; each test's cleanup empties it)."""
    options: dict = {}
    for scenario in scenarios:
        keys = [entry["key"] for entry in scenario.api_keys if entry["channel_manager"]]
        if keys:
            options["api_key"] = keys[0]
        for name, option in (("tenants", "tenant"), ("environments", "environment"), ("companies", "company")):
            if scenario.namespaces.get(name):
                options[option] = scenario.namespaces[name][0]
    return options
