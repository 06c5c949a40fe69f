"""Every example of the README and of docs/ runs here as a user would paste it (or is loaded, for TOML).

Shell examples run in bash, section by section (a section's blocks share their variables, as
one terminal does), with the README's quick-start settings (`BASE`, `KEY`, `VISIT`...) before
them, against a server started as the README starts it. The ports the examples name (8080,
8081 and the webhook receiver's 9000) are mapped to free ones. Container examples run under
podman in `make image-test`; the OpenAPI command of contract-testing.md in test_contract.py.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from simulator.version import VERSION
from tests.doc_examples import (
    DOCS,
    README,
    ROOT,
    blocks,
    is_container_example,
    json_values,
    quick_start,
    sections,
    wallets,
)
from tests.helpers import Endpoint

EXAMPLE_PORTS = (8080, 8081, 9000)
BIN = Path(sys.executable).parent
PARTNER = "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"


def shell_sections() -> list[tuple[str, str]]:
    """(document, section) of every section with a shell example to run here."""
    found = []
    for path in DOCS:
        if path.name == "contract-testing.md":
            continue
        for title, text in sections(path).items():
            if any(not is_container_example(block) for block in blocks(text, "sh")):
                found.append((str(path.relative_to(ROOT)), title))
    return found


def quick_start_settings() -> str:
    return quick_start()[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Paste:
    """A section's shell examples pasted into bash, ports mapped, a server of the README's running."""

    def __init__(self, tmp_path: Path):
        self.ports = {port: free_port() for port in EXAMPLE_PORTS}
        self.url = f"http://127.0.0.1:{self.ports[8080]}"
        self.tmp_path = tmp_path
        self.servers: list[subprocess.Popen] = []
        self.received: list[bytes] = []
        self.endpoint: Endpoint | None = None

    def mapped(self, text: str) -> str:
        return re.sub(r"\b(8080|8081|9000)\b", lambda match: str(self.ports[int(match.group())]), text)

    def start(self, command: str, cwd: Path = ROOT) -> str:
        """A server-starting example (`make run ...`), in the background; its start-up line."""
        command = command.split("#")[0].strip()
        if command.startswith("make run"):
            command = f'make run ARGS="--port {self.ports[8080]}"'
        process = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=self.env(),
        )
        self.servers.append(process)
        for line in process.stdout:
            if "serving on" in line:
                return line
        raise AssertionError(f"{command} did not start")

    def start_default(self) -> None:
        """The server the README's quick start leaves running."""
        self.start(f"{BIN / 'cm-sim'} serve --port {self.ports[8080]} --quiet")

    def receiver(self) -> None:
        """The webhook receiver of the examples (port 9000)."""

        def answer(handler, body):
            self.received.append(body)
            handler.send_response(204)
            handler.end_headers()

        self.endpoint = Endpoint(answer)
        self.ports[9000] = self.endpoint.server.server_port

    def env(self) -> dict:
        return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def run(self, script: str) -> str:
        """Run a script in bash, stopping at the first failing command; what it printed."""
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", self.mapped(script)],
            cwd=self.tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=self.env(),
        )
        try:
            printed, _ = process.communicate(timeout=120)
        finally:
            _stop_group(process)
        assert process.returncode == 0, printed
        return printed

    def stop(self) -> list[str]:
        """Stop every server with Ctrl-C; what each printed afterwards."""
        said = []
        servers, self.servers = self.servers, []
        for server in servers:
            _stop_group(server, signal.SIGINT)
            with server.stdout:
                said.append(server.stdout.read())
        if self.endpoint:
            self.endpoint.close()
            self.endpoint = None
        return said


def _stop_group(process: subprocess.Popen, signum: int = signal.SIGTERM) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def paste(tmp_path):
    pasted = Paste(tmp_path)
    yield pasted
    pasted.stop()


def section_script(document: str, title: str) -> str:
    return "\n".join(
        block for block in blocks(sections(ROOT / document)[title], "sh") if not is_container_example(block)
    )


def partner_calls(url: str) -> list[tuple[str, int]]:
    journal = requests.get(f"{url}/_sim/journal", timeout=10).json()
    return [(entry["operation"], entry["response"]["status"]) for entry in journal]


# -- each section's examples, and what they must show ------------------------------------------


def test_every_shell_example_is_run_by_a_test():
    assert sorted(shell_sections()) == sorted(
        [
            ("README.md", "Quick start"),
            ("README.md", "Making it fail"),
            ("docs/ota-and-webhooks.md", ""),
        ]
    )


def test_the_quick_start_works_when_pasted(paste):
    [make_run, settings, *calls] = blocks(sections(README)["Quick start"], "sh")
    first_line = paste.start(make_run)
    assert first_line.startswith(f"cm-sim serving on {paste.url} (data: memory; dashboard {paste.url}/_sim/;")

    [created, got, listed, deleted, replaced, confirmed] = json_values(paste.run(settings + "\n".join(calls)))

    visit = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    assert created["status"] == "Issued" and len(wallets(created)) == 2 and created["manifestUrl"]
    assert created["items"][0]["visitDate"] == visit
    assert got == created
    assert [order["orderId"] for order in listed] == [created["orderId"]]
    assert deleted["status"] == "Cancelled" and "manifestUrl" not in deleted
    assert replaced["status"] == "Draft" and len(wallets(replaced)) == 3
    assert confirmed["orderId"] == replaced["orderId"] and confirmed["status"] == "Issued"
    assert partner_calls(paste.url) == [
        ("create", 201),
        ("get", 200),
        ("list", 200),
        ("delete", 200),
        ("create", 201),
        ("replace", 200),
        ("confirm", 200),
    ]
    assert requests.get(created["manifestUrl"], timeout=10).status_code == 404
    [said] = paste.stop()
    assert "cm-sim stopped" in said


def test_the_ways_to_make_it_fail_work_when_pasted(paste):
    paste.start_default()
    printed = paste.run(quick_start_settings() + section_script("README.md", "Making it fail"))
    [magic, added, clock_set, clock_advanced, reset, loaded] = json_values(printed)
    assert magic["code"] == "generic_error"
    assert magic["message"].startswith("The reservation capacity for CASTLE at ")
    assert added == {"ids": ["tour-sold-out"]}
    visit = datetime.date.today() + datetime.timedelta(days=30)
    assert clock_set["now"] == f"{visit}T09:00:00Z" and clock_set["frozen"] is True
    assert clock_advanced["now"] == f"{visit + datetime.timedelta(days=1)}T09:00:00Z"
    assert reset == {"reset": "everything"}
    assert loaded["name"].endswith("sold-out.toml") and "sold out" in loaded["description"]
    tour = requests.post(
        f"{paste.url}{quick_start_path()}",
        headers={"x-np-api-key": "k"},
        timeout=10,
        json={
            "partnerId": PARTNER,
            "sellToOrderReference": "AFTER-SOLD-OUT",
            "items": [{"itemNumber": "31010", "visitDate": next_tuesday(), "visitTime": "10:00:00"}],
        },
    )
    assert tour.status_code == 400 and "has been exceeded" in tour.json()["message"]


def test_the_ota_flow_works_when_pasted(paste):
    paste.receiver()
    paste.start_default()
    printed = paste.run(quick_start_settings() + section_script("docs/ota-and-webhooks.md", ""))
    values = json_values(printed)
    subscription, submitted, settled, issued = values[:4]
    assert subscription["notificationUrl"] == f"http://127.0.0.1:{paste.ports[9000]}/hook"
    assert submitted["status"] == "Submitted" and submitted["jobId"] == ""
    assert issued["orderId"] == submitted["orderId"] and issued["status"] == "Issued"
    deliveries = values[-1]
    assert [entry["outcome"] for entry in deliveries] == ["delivered"]
    [delivered] = paste.received
    assert json.loads(delivered)["value"][0]["payload"]["orderId"] == submitted["orderId"]
    assert "cm-sim stopped" in printed


def quick_start_path() -> str:
    return quick_start_settings().split("\n")[0].split("8080", 1)[1]


def next_tuesday() -> str:
    today = datetime.date.today()
    return (today + datetime.timedelta(days=7 + (1 - today.weekday()) % 7)).isoformat()


# -- Python, TOML, YAML and other languages' examples ------------------------------------------


def test_the_plugin_examples_pass(pytester):
    [tests, conftest] = blocks(sections(README)["Testing your integration with pytest"], "python")
    pytester.makepyfile(test_readme=tests)
    pytester.makeconftest(
        conftest
        + textwrap.dedent("""

        def test_the_session_server_has_the_scenario(cm_sim):
            [scenario] = cm_sim.session.get(cm_sim.url + "/_sim/scenarios").json()
            assert scenario["name"].endswith("sold-out.toml")
        """)
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "test_readme.py", "conftest.py")
    result.assert_outcomes(passed=4)


def test_the_readme_scenario_does_what_it_says(cm_sim_inprocess):
    [scenario] = blocks(sections(README)["Making it fail"], "toml")
    cm_sim_inprocess.load_scenario(scenario)
    friday = datetime.date.today() + datetime.timedelta(days=7 + (4 - datetime.date.today().weekday()) % 7)
    order = {
        "partnerId": PARTNER,
        "sellToOrderReference": "NIGHT-1",
        "paymentReference": "PAY-1",
        "items": [{"itemNumber": "40001", "visitDate": friday.isoformat(), "visitTime": "20:00:00"}],
    }
    answers = [
        cm_sim_inprocess.session.post(cm_sim_inprocess.base_url, json={**order, "sellToOrderReference": f"N-{n}"})
        for n in range(20)
    ]
    assert {answer.status_code for answer in answers} == {201, 503}
    issued = next(answer.json() for answer in answers if answer.status_code == 201)
    assert issued["items"][0]["description"] == "Night at the Castle"
    assert wallets(issued)[0]["unitPriceInclVat"] == 125
    thursday = {
        **order,
        "items": [{**order["items"][0], "visitDate": (friday - datetime.timedelta(days=1)).isoformat()}],
    }
    answers = [
        cm_sim_inprocess.session.post(cm_sim_inprocess.base_url, json={**thursday, "sellToOrderReference": f"T-{n}"})
        for n in range(10)
    ]
    assert any("has no available time slots" in answer.json()["message"] for answer in answers)


def test_the_scenario_reference_loads_and_does_what_its_comments_say(cm_sim_inprocess):
    [reference] = blocks(sections(ROOT / "docs/scenarios-and-faults.md")["Scenario files"], "toml")
    cm_sim_inprocess.load_scenario(reference)
    assert cm_sim_inprocess.session.get(cm_sim_inprocess.url + "/_sim/clock").json()["now"] == "2026-12-01T09:00:00Z"
    [rule] = cm_sim_inprocess.session.get(cm_sim_inprocess.url + "/_sim/faults").json()
    assert (rule["id"], rule["outcome"], rule["remaining"]) == ("tour-sold-out", "fail_issuance", 1)
    night = {
        "partnerId": "0f0e0d0c-0b0a-4908-8706-050403020100",
        "sellToOrderReference": "NIGHT-1",
        "paymentReference": "PAY-1",
        "items": [{"itemNumber": "40001", "visitDate": "2026-12-04", "visitTime": "20:00:00"}],
    }  # a Friday
    # its [[api_keys]] and [namespaces] allow only this key and the getting-started page's company
    company = f"{cm_sim_inprocess.url}/01234567-89ab-cdef-0123-456789abcdef/production/CRONUS%20International%20Ltd."
    calls = cm_sim_inprocess.session
    assert calls.post(f"{company}/channelManager", json=night).status_code == 401  # the handle's own key
    key = {"x-np-api-key": "partner-key"}
    submitted = calls.post(f"{company}/channelManager", json=night, headers=key).json()
    assert submitted["status"] == "Submitted"  # [ota] all_partners = true
    cm_sim_inprocess.ota_run(everything=True)
    issued = calls.get(f"{company}/channelManager/{submitted['orderId']}", headers=key).json()
    assert issued["status"] == "Issued" and issued["manifestUrl"]
    assert wallets(issued)[0]["unitPriceInclVat"] == 125 and wallets(issued)[0]["currencyCode"] == "DKK"
    assert wallets(issued)[0]["assets"][0]["referenceNumber"].startswith("ATF-NGT")


def test_the_container_snippets_parse():
    """Compose, GitHub Actions and GitLab snippets: valid YAML that waits on /_sim/health."""
    import yaml

    compose, actions, gitlab = [
        yaml.safe_load(block) for block in blocks((ROOT / "docs/containers.md").read_text(), "yaml")
    ]
    assert compose["services"]["tests"]["depends_on"]["cm-sim"]["condition"] == "service_healthy"
    assert compose["services"]["cm-sim"]["image"] == f"cm-sim:{VERSION}"
    assert any("/_sim/health" in step.get("run", "") for step in actions["jobs"]["integration"]["steps"])
    assert any("/_sim/health" in line for line in gitlab["integration"]["script"])


@pytest.mark.parametrize(
    "language, grammar",
    [("java", "tree_sitter_java"), ("csharp", "tree_sitter_c_sharp"), ("javascript", "tree_sitter_javascript")],
)
def test_the_testcontainers_snippets_parse(language, grammar):
    """Java and .NET cannot run here: each snippet must parse, start our image and wait on the health check."""
    import importlib

    import tree_sitter

    [snippet] = blocks(sections(ROOT / "docs/containers.md")["Testcontainers"], language)
    parser = tree_sitter.Parser(tree_sitter.Language(importlib.import_module(grammar).language()))
    assert not parser.parse(snippet.encode()).root_node.has_error, snippet
    assert f'"cm-sim:{VERSION}"' in snippet and '"/_sim/health"' in snippet and "8080" in snippet


def test_the_docs_name_the_version_that_is_built():
    named = {version for path in DOCS for version in re.findall(r"cm-sim:(\d+\.\d+\.\d+)", path.read_text())}
    assert named == {VERSION}
