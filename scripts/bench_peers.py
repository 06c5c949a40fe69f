"""make bench's servers: a process started on core 0 and timed to its first answer, the old stack
and the peers our simulator is measured against.

- The old stack: waitress with the options `cm-sim serve` ran on before granian (OLD_STACK),
  serving our same app (`python bench_peers.py waitress PORT`) and the bare Flask app.
- Peers: Prism and WireMock mocking the getting-started page's create and get, and a bare Flask
  app answering the page's order on our server, simulator.server.HTTPServer (the ceiling for
  our stack; `python bench_peers.py flask PORT`, or `flask-waitress PORT` on the old stack).

Prism and WireMock are installed once into a cache outside the repository (npm; WireMock's
package ships the standalone jar, run on the system's Java).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PIN = shutil.which("taskset")
SEED_EXAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "seed_examples.json"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cm-sim-bench"
PACKAGES = {"@stoplight/prism-cli": "5.14.2", "wiremock": "3.13.2"}
API = "/01234567-89ab-cdef-0123-456789abcdef/production/CRONUS%2520International%2520Ltd./channelManager"
ORDER_PATHS = "/{tenant}/{environment}/{company}/channelManager"
# waitress's options in `cm-sim serve` before granian: 16 threads, reading ahead (to notice a client
# that left), up to 1,000 connections watched with poll()
OLD_STACK = {"threads": 16, "channel_request_lookahead": 1, "connection_limit": 1000, "asyncore_use_poll": True}


def seed_order() -> dict:
    """The order the getting-started page answers (Issued, one wallet)."""
    return json.loads(SEED_EXAMPLES.read_text())["order response"]


SEED_GET = f"{API}/{seed_order()['orderId']}"  # the page's get


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


class Process:
    """A server spawned on core 0 (when taskset is there); `startup` is the time from the spawn to
    its first successful answer to GET `probe`."""

    def __init__(self, command: list[str], port: int, probe: str = SEED_GET):
        self.port = port
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop(), it outlives this method)
        began = time.perf_counter()
        self.process = subprocess.Popen(
            [PIN, "-c", "0", *command] if PIN else command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while not self._answers(probe):
            if self.process.poll() is not None or time.perf_counter() - began > 120:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"{command[0]} did not start:\n{output}")
            time.sleep(0.005)
        self.startup = time.perf_counter() - began

    def _answers(self, path: str) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            connection.request("GET", path, headers={"x-np-api-key": "bench"})
            return connection.getresponse().status < 300
        except OSError:
            return False

    def pause(self, paused: bool = True) -> None:
        """Freeze (SIGSTOP) the server and what it started, or let it go on (SIGCONT): a server
        not being measured must not take the core from the one that is (a JVM's compiler and
        collector go on working after a load)."""
        os.killpg(self.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def stop(self) -> float:
        """Stop gracefully (SIGTERM); how long it took."""
        began = time.perf_counter()
        self.process.terminate()
        try:
            self.process.wait(timeout=600)
        finally:
            self.log.close()
        return time.perf_counter() - began


def install() -> None:
    """Prism and WireMock into the cache, unless the wanted versions are there."""
    if all(_installed(name) == version for name, version in PACKAGES.items()):
        return
    print(f"installing {', '.join(f'{n}@{v}' for n, v in PACKAGES.items())} into {CACHE} ...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(CACHE),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            *(f"{name}@{version}" for name, version in PACKAGES.items()),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _installed(package: str) -> str | None:
    manifest = CACHE / "node_modules" / package / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def prism_document(order: dict) -> dict:
    """OpenAPI 3 with the page's create (201) and get (200); a create must be an object with the
    header fields the page requires."""

    def parameters(*names):
        return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names]

    def answer(status):
        return {status: {"description": "the order", "content": {"application/json": {"example": order}}}}

    create = {
        "type": "object",
        "required": ["partnerId", "sellToOrderReference", "items"],
        "properties": {"items": {"type": "array", "minItems": 1}},
    }
    namespace = ("tenant", "environment", "company")
    return {
        "openapi": "3.0.3",
        "info": {"title": "Channel Manager (getting-started examples)", "version": "1"},
        "paths": {
            ORDER_PATHS: {
                "post": {
                    "operationId": "createOrder",
                    "parameters": parameters(*namespace),
                    "responses": answer("201"),
                    "requestBody": {"required": True, "content": {"application/json": {"schema": create}}},
                }
            },
            ORDER_PATHS + "/{orderId}": {
                "get": {
                    "operationId": "getOrder",
                    "parameters": parameters(*namespace, "orderId"),
                    "responses": answer("200"),
                }
            },
        },
    }


def wiremock_mappings(order: dict) -> dict:
    def stub(method, pattern, status):
        return {
            "request": {"method": method, "urlPathPattern": pattern},
            "response": {"status": status, "jsonBody": order, "headers": {"Content-Type": "application/json"}},
        }

    orders = "/[^/]+/[^/]+/[^/]+/channelManager"
    return {"mappings": [stub("POST", orders, 201), stub("GET", orders + "/[^/]+", 200)]}


def start_prism() -> Process:
    document = CACHE / "prism-openapi.json"
    document.write_text(json.dumps(prism_document(seed_order())))
    port = free_port()
    # --verboseLevel warn: no line per request (that is info), as our simulator runs --quiet
    return Process(
        [
            str(CACHE / "node_modules" / ".bin" / "prism"),
            "mock",
            str(document),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--verboseLevel",
            "warn",
        ],
        port,
    )


def start_wiremock() -> Process:
    root = CACHE / "wiremock-root"
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    (root / "mappings" / "seed.json").write_text(json.dumps(wiremock_mappings(seed_order())))
    jar = CACHE / "node_modules" / "wiremock" / "build" / f"wiremock-standalone-{PACKAGES['wiremock']}.jar"
    port = free_port()
    # no request journal (it grows with every request) and no line per request
    return Process(
        [
            "java",
            "-jar",
            str(jar),
            "--port",
            str(port),
            "--bind-address",
            "127.0.0.1",
            "--root-dir",
            str(root),
            "--disable-banner",
            "--no-request-journal",
            "--disable-request-logging",
        ],
        port,
    )


def command(mode: str, port: int) -> list[str]:
    """This script serving in `mode` (see the end of the file) on `port`."""
    return [sys.executable, __file__, mode, str(port)]


def start_bare_flask(mode: str = "flask") -> Process:
    port = free_port()
    return Process(command(mode, port), port)


def peers() -> dict:
    """The peers that can run here, by name: a function starting each."""
    found = {"bare Flask": start_bare_flask, "bare Flask on waitress": lambda: start_bare_flask("flask-waitress")}
    missing = [tool for tool in ("npm", "node", "java") if not shutil.which(tool)]
    if missing:
        print(f"Prism and WireMock skipped: {', '.join(missing)} not found")
        return found
    install()
    return {**found, "Prism": start_prism, "WireMock": start_wiremock}


def bare_flask():
    """A Flask app answering the page's create and get with the page's order, and nothing else."""
    from flask import Flask

    order = seed_order()
    orders = ORDER_PATHS.replace("{", "<").replace("}", ">")
    app = Flask("bare")
    app.json.sort_keys = False
    app.add_url_rule(orders, "create", lambda **_: (order, 201), methods=["POST"])
    app.add_url_rule(orders + "/<order_id>", "get", lambda **_: order)
    return app


def serve_on_waitress(app, port: int) -> None:
    from waitress import serve

    # as before granian: no "Task queue depth" warning whenever more calls wait than there are threads
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    serve(app, host="127.0.0.1", port=port, **OLD_STACK)


def serve_ours_on_waitress(port: int) -> None:
    """Our app as `cm-sim serve --quiet` ran it before granian: same garbage-collection policy
    and warm-up, on waitress."""
    from simulator import Backend, create_app
    from simulator.server import freeze_survivors, warm_up

    backend = Backend()
    app = create_app(backend)
    freeze_survivors()
    threading.Thread(target=warm_up, args=(backend.numbers,), daemon=True).start()
    serve_on_waitress(app, port)


def serve_bare_flask(port: int) -> None:
    from simulator.server import HTTPServer

    HTTPServer(bare_flask(), "127.0.0.1", port).serve()


MODES = {
    "flask": serve_bare_flask,
    "flask-waitress": lambda port: serve_on_waitress(bare_flask(), port),
    "waitress": serve_ours_on_waitress,
}

if __name__ == "__main__":
    MODES[sys.argv[1]](int(sys.argv[2]))
