"""`make image-test`: build the container image on this project's machines and drive it.

These machines reach no container registry, so the image is built with podman from a local
Debian bookworm base made once with debootstrap (`localhost/debian-base:bookworm`, reused when
present), through `make image` itself with the flags this machine needs (see the notes on
containers). Then, against running containers: the health endpoint, the README's quick start
pasted into bash, scenarios from the mounted /scenarios and bundled ones, the control API
through a Host other than localhost, the HEALTHCHECK (`podman inspect`), a stop (`podman stop`,
timed: within its 10 s), a restart on the same /data volume, and docs/containers.md's
`docker run -d` example pasted with podman, and its Node Testcontainers snippet.

Needs root (it installs podman, runc and debootstrap with apt-get when missing). Exits 1,
naming each failure, when anything is wrong; removes its containers and volume in any case.
Environment: IMAGE_TEST_ORDERS=N (default 0) imports N more orders before the second stop,
to time a graceful stop with a large store and --data.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from loadkit import order_copies  # noqa: E402 (as make bench fills a store)

from tests import doc_examples  # noqa: E402 (the README's examples, as the tests read them)

BASE_IMAGE = "localhost/debian-base:bookworm"
IMAGE = "localhost/cm-sim-test"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
STOP_LIMIT = 10.0  # docker stop's and podman stop's default grace period
RUN = uuid.uuid4().hex[:8]
NAME = f"cm-sim-image-test-{RUN}"
EXAMPLE = f"cm-sim-image-test-example-{RUN}"
VOLUME = f"cm-sim-image-test-{RUN}"
KEY = {"x-np-api-key": "any-key"}
PARTNER = "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"
API = "/01234567-89ab-cdef-0123-456789abcdef/production/CRONUS%2520International%2520Ltd./channelManager"
# a scenario of the user's, mounted at /scenarios: the next confirm fails with this message
MINE = """description = "image test: the next confirm fails"

[[faults]]
id = "image-test-confirm"
operation = "confirm"
times = 1
fail_confirm = "image test: confirm refused once"
"""

failures: list[str] = []
timings: dict[str, float] = {}
facts: list[str] = []


def main() -> int:
    started = time.monotonic()
    if os.geteuid() != 0:
        print("make image-test needs root (podman as root, apt-get for missing tools)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="cm-sim-image-test-"))
    os.environ["CONTAINERS_CONF"] = str(containers_conf(work))
    try:
        install_tools()
        phase("base image", ensure_base)
        phase("image build (make image)", build)
        if not failures:
            inspect_image()
            drive(work)
    except Failure as failure:
        failures.append(str(failure))
    except Exception as error:  # noqa: BLE001 (any surprise is a failure to report, then clean up)
        failures.append(f"unexpected {type(error).__name__}: {error}")
    finally:
        cleanup(work)
    timings["total"] = time.monotonic() - started
    print("\ntimings: " + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in timings.items()))
    for fact in facts:
        print(fact)
    if failures:
        print(f"\nFAILED ({len(failures)}):")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("\nimage test passed")
    return 0


class Failure(Exception):
    """A step that the rest cannot go on without."""


def phase(label: str, step, *args):
    start = time.monotonic()
    try:
        return step(*args)
    finally:
        timings[label] = time.monotonic() - start


def check(condition: bool, what: str) -> bool:
    print(f"  {'ok  ' if condition else 'FAIL'} {what}", flush=True)
    if not condition:
        failures.append(what)
    return condition


# -- the machine ----------------------------------------------------------------


def containers_conf(work: Path) -> Path:
    """podman's settings for this machine, in a file of our own (CONTAINERS_CONF), so the
    machine's configuration is left alone: no default ulimits (runc and crun refuse them here),
    runc (crun: "cgroups in hybrid mode not supported"), cgroupfs (no systemd), events in a file."""
    path = work / "containers.conf"
    path.write_text(
        "[containers]\ndefault_ulimits = []\n\n"
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    )
    return path


def install_tools() -> None:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if not shutil.which(tool)]
    if missing:
        print(f"installing {' '.join(missing)} (apt-get)", flush=True)
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", *missing], env={"DEBIAN_FRONTEND": "noninteractive"})


def ensure_base() -> None:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        print(f"base image {BASE_IMAGE}: present, reused", flush=True)
        return
    mirror = debian_mirror()
    print(f"base image {BASE_IMAGE}: debootstrap --variant=minbase bookworm from {mirror}", flush=True)
    rootfs = Path(tempfile.mkdtemp(prefix="cm-sim-rootfs-"))
    try:
        run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror], quiet=True)
        # the downloaded packages and lists are not needed in the image (apt-get update comes first)
        for leftover in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        for leftover in (rootfs / "var/lib/apt/lists").glob("*_*"):
            leftover.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        podman("import", "-", BASE_IMAGE, stdin=tar.stdout)
        tar.stdout.close()
        if tar.wait() != 0:
            raise Failure("tar of the debootstrap root failed")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def debian_mirror() -> str:
    """The Debian mirror apt already uses here (deb822 .sources, else sources.list)."""
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "debian" in line and "security" not in line:
                return line.split()[1]
    for line in (
        Path("/etc/apt/sources.list").read_text().splitlines() if Path("/etc/apt/sources.list").exists() else []
    ):
        parts = line.split()
        if len(parts) > 2 and parts[0] == "deb" and "security" not in line:
            return parts[1] if not parts[1].startswith("[") else parts[2]
    return "http://deb.debian.org/debian"


def build() -> None:
    """`make image` as a user would run it, with this machine's extras in IMAGE_ARGS."""
    extras = ["--network=host", f"--build-arg=BASE={BASE_IMAGE}"]
    if Path(HOST_CA).exists():  # the proxy's CA, for pip inside the build
        extras += [f"--volume={HOST_CA}:/run/host-ca.crt:ro", "--build-arg=PIP_CERT=/run/host-ca.crt"]
    command = [
        "make",
        "--no-print-directory",
        "-C",
        str(ROOT),
        "image",
        "ENGINE=podman",
        f"IMAGE={IMAGE}",
        "IMAGE_ARGS=" + " ".join(extras),
    ]
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = result.stdout.splitlines()
    if result.returncode != 0:
        print("\n".join(lines[-40:]))
        raise Failure(f"make image failed (exit {result.returncode})")
    check(any("--format docker" in line for line in lines[:3]), "make image gives podman --format docker")


# -- the image --------------------------------------------------------------------


def version(cache: list[str] = []) -> str:  # noqa: B006 (computed once)
    """The version `make image` tags with (read from its command line)."""
    if not cache:
        result = subprocess.run(
            ["make", "--no-print-directory", "-s", "-C", str(ROOT), "-n", "image", "ENGINE=podman", "IMAGE=cm-sim"],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        cache.append(result.stdout.split("-t cm-sim:", 1)[1].split()[0])
    return cache[0]


def inspect_image() -> None:
    tag = f"{IMAGE}:{version()}"
    print(f"\nimage {tag}", flush=True)
    data = json.loads(podman("image", "inspect", tag).stdout)[0]
    config = data.get("Config") or {}
    base = json.loads(podman("image", "inspect", BASE_IMAGE).stdout)[0].get("Size", 0)
    facts.append(f"image {tag}: {data.get('Size', 0) / 1e6:.0f} MB, of which the base {base / 1e6:.0f} MB")
    print("  " + facts[-1])
    health = data.get("Healthcheck") or config.get("Healthcheck") or {}
    check(
        "/_sim/health" in " ".join(health.get("Test", [])),
        f"HEALTHCHECK on /_sim/health in the image ({health.get('Test', [None])[0]})",
    )
    check(config.get("User") == "10001:10001", f"runs as a non-root user ({config.get('User')!r})")
    check("8080/tcp" in (config.get("ExposedPorts") or {}), "exposes 8080")
    check("/data" in (config.get("Volumes") or {}), "declares the /data volume")
    entrypoint = config.get("Entrypoint") or []
    check(
        entrypoint[:2] == ["cm-sim", "serve"]
        and "--allow-remote-control" in entrypoint
        and "0.0.0.0" in entrypoint
        and "/scenarios" in entrypoint,
        f"entrypoint {entrypoint}",
    )
    inside = podman("run", "--rm", "--entrypoint", "cm-sim", tag, "--version", check=False)
    check(inside.stdout.strip() == f"cm-sim {version()}", f"cm-sim --version in the image: {inside.stdout.strip()!r}")
    check(data.get("Labels", {}).get("org.opencontainers.image.version") == version(), "version label")


# -- the running container ----------------------------------------------------------


def drive(work: Path) -> None:
    tag = f"{IMAGE}:{version()}"
    scenarios = work / "scenarios"
    scenarios.mkdir()
    (scenarios / "mine.toml").write_text(MINE)
    scenarios.chmod(0o755)
    (scenarios / "mine.toml").chmod(0o644)
    podman("volume", "create", VOLUME)
    port = free_port()
    mounts = ["-v", f"{scenarios}:/scenarios:ro", "-v", f"{VOLUME}:/data"]

    print(f"\nfirst container: {NAME}, port {port}, --data /data/state.json", flush=True)
    ready = phase("first start to healthy", start, tag, port, mounts, ["--data", "/data/state.json"])
    check(ready is not None, "GET /_sim/health answers 200 within 60 s")
    if ready is None:
        raise Failure(f"the container never became ready; its log:\n{logs()}")
    facts.append(f"podman run to healthy: {ready:.2f} s")
    print("  " + facts[-1])
    server = Client(port)
    processes(server)
    order_id = readme_flow(server)
    scenario_loads(server)
    healthcheck()
    in_flight = call_in_progress(server, order_id)
    phase("first stop", stop_and_check, "first stop, a call in progress")
    in_flight.join(15)
    answer = in_flight.answer  # type: ignore[attr-defined]
    check(answer and answer[0] == 200, f"the call in progress at the stop is answered: {answer}")

    orders = int(os.environ.get("IMAGE_TEST_ORDERS", "0"))
    print(
        "\nsecond container on the same /data volume, --read-only, with --scenario sold-out mine.toml --seed 7",
        flush=True,
    )
    podman("rm", NAME)
    ready = phase(
        "second start to healthy",
        start,
        tag,
        port,
        ["--read-only", *mounts],
        ["--data", "/data/state.json", "--scenario", "sold-out", "mine.toml", "--seed", "7", "--quiet"],
    )
    if not check(ready is not None, "the second container becomes ready on the same volume"):
        raise Failure(f"the second container never became ready; its log:\n{logs()}")
    status, body = server.call("GET", f"{API}/{order_id}", headers=KEY)
    check(status == 200 and body.get("orderId") == order_id, f"the order created before the stop is back ({status})")
    status, body = server.call("GET", "/_sim/scenarios")
    check(
        status == 200 and "image test: the next confirm fails" in json.dumps(body),
        "--scenario mine.toml (a file in /scenarios, the working directory) loaded at start-up",
    )
    check(
        status == 200 and "Guided tours are sold out" in json.dumps(body),
        "--scenario sold-out (bundled, by name) loaded at start-up",
    )
    if orders:
        phase(f"import {orders:,} orders", populate, server, orders)
    phase("second stop", stop_and_check, "second stop" + (f" with {orders:,} more orders" if orders else ""))
    pasted_run_example(work, tag)
    testcontainers_node(work, tag)


def start(tag: str, port: int, mounts: list[str], args: list[str]) -> float | None:
    """`podman run -d` it; seconds from there until /_sim/health answers 200 (None: never)."""
    began = time.monotonic()
    podman("run", "-d", "--name", NAME, "-p", f"127.0.0.1:{port}:8080", *mounts, tag, *args)
    client = Client(port)
    while time.monotonic() - began < 60:
        try:
            if client.call("GET", "/_sim/health", timeout=2)[0] == 200:
                return time.monotonic() - began
        except OSError:
            pass
        if container_state().get("Status") == "exited":
            return None
        time.sleep(0.1)
    return None


def processes(server: Client) -> None:
    status = podman("exec", NAME, "cat", "/proc/1/status").stdout
    uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), None)
    command = podman("exec", NAME, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    check(uid == "10001", f"PID 1 runs as uid 10001 (uid {uid})")
    check("cm-sim serve" in command, f"PID 1 is cm-sim serve ({command.strip()[:80]}...)")
    head = logs().splitlines()
    check(
        any(line.startswith("cm-sim serving on http://0.0.0.0:8080") for line in head),
        "the start-up line says http://0.0.0.0:8080",
    )
    check(
        any("--allow-remote-control without --control-token" in line for line in head),
        "the --allow-remote-control warning is printed",
    )
    status, _ = server.call("GET", "/_sim/scenarios", headers={"Host": "cm-sim:8080"})
    check(status == 200, f"the control API answers a call addressed to another host (Host: cm-sim:8080): {status}")


def readme_flow(server: Client) -> str:
    """The README's quick start pasted into bash against the container (8080 mapped to its
    published port): create (Issued), get, list, delete; a Draft replaced and confirmed."""
    print("README quick start, pasted", flush=True)
    settings, calls = doc_examples.quick_start()
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", (settings + calls).replace("8080", str(server.port))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    values = doc_examples.json_values(result.stdout)
    check(
        result.returncode == 0 and len(values) == 6,
        f"it runs to the end: exit {result.returncode}, {len(values)} answers"
        + ("" if result.returncode == 0 else f"\n{result.stdout[-2000:]}"),
    )
    if len(values) != 6:
        raise Failure("the README's quick start failed against the container")
    created, got, listed, deleted, replaced, confirmed = values
    check(
        created.get("status") == "Issued" and len(doc_examples.wallets(created)) == 2,
        f"create: {created.get('status')}, {len(doc_examples.wallets(created))} wallets",
    )
    check(
        f":{server.port}/_sim/manifest?" in created.get("manifestUrl", ""),
        "its manifestUrl points at the published port",
    )
    check(got == created and [order["orderId"] for order in listed] == [created["orderId"]], "get and list find it")
    check(deleted.get("status") == "Cancelled", f"delete: {deleted.get('status')}")
    check(
        replaced.get("status") == "Draft" and len(doc_examples.wallets(replaced)) == 3,
        f"replace of a Draft: {replaced.get('status')}, {len(doc_examples.wallets(replaced))} wallets",
    )
    check(confirmed.get("status") == "Issued", f"confirm: {confirmed.get('status')}")
    return confirmed["orderId"]


def pasted_run_example(work: Path, tag: str) -> None:
    """docs/containers.md's `docker run -d` example, pasted with podman for docker and this
    run's image, port, name and volume; then what it claims: the scenarios it loads, --data."""
    [example] = [
        block
        for block in doc_examples.blocks((ROOT / "docs/containers.md").read_text(), "sh")
        if "docker run -d" in block
    ]
    port = free_port()
    script = (
        example.replace("docker ", "podman ")
        .replace(f"cm-sim:{version()}", tag)
        .replace("--name cm-sim", f"--name {EXAMPLE}")
        .replace("cm-sim-data", EXAMPLE)
        .replace("-p 8080:8080", f"-p 127.0.0.1:{port}:8080")
        .replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    )
    print(f"\ndocs/containers.md's run example as {EXAMPLE}, port {port}", flush=True)
    (work / "my-scenarios").mkdir(mode=0o755)
    (work / "my-scenarios" / "mine.toml").write_text(MINE)
    (work / "my-scenarios" / "mine.toml").chmod(0o644)
    result = subprocess.run(
        ["timeout", "60", "bash", "-e", "-c", script],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if not check(result.returncode == 0, f"it starts and becomes ready (exit {result.returncode})"):
        print(result.stdout[-2000:])
        return
    status, body = Client(port).call("GET", "/_sim/scenarios")
    check(
        status == 200 and "Guided tours are sold out" in json.dumps(body) and "image test" in json.dumps(body),
        "--scenario sold-out mine.toml: the bundled one and the mounted one are loaded",
    )
    command = podman("exec", EXAMPLE, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    check("--data /data/state.json" in command, "it keeps its data in /data/state.json")


def testcontainers_node(work: Path, tag: str) -> None:
    """docs/containers.md's Node Testcontainers snippet, run against podman's Docker-compatible
    socket (Java and .NET are parse-checked by make test: they cannot run here). Needs npm; the
    package is installed once into ~/.cache/cm-sim-image-test."""
    if not shutil.which("npm"):
        print("\nTestcontainers (Node): skipped, no npm here", flush=True)
        return
    print("\nTestcontainers (Node) against podman's socket", flush=True)
    modules = Path.home() / ".cache" / "cm-sim-image-test" / "node"
    if not (modules / "node_modules" / "testcontainers").exists():
        modules.mkdir(parents=True, exist_ok=True)
        run(["npm", "install", "--silent", "--prefix", str(modules), "testcontainers@10"], quiet=True)
    [snippet] = doc_examples.blocks(doc_examples.sections(ROOT / "docs/containers.md")["Testcontainers"], "javascript")
    listing = (
        "const answer = await fetch(`${baseUrl}/orders/21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e`, "
        '{headers: {"x-np-api-key": "k"}});\nconsole.log("listed", answer.status, await answer.text());'
    )
    script = modules / "cm-sim-snippet.mjs"  # beside node_modules, where the import finds the package
    script.write_text(
        snippet.replace(f'"cm-sim:{version()}"', f'"{tag}"').replace("// ... your tests against baseUrl ...", listing)
    )
    socket_path = work / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            if socket_path.exists():
                break
            time.sleep(0.1)
        result = subprocess.run(
            ["node", str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180,
            env={**os.environ, "DOCKER_HOST": f"unix://{socket_path}", "TESTCONTAINERS_RYUK_DISABLED": "true"},
        )
        check(
            result.returncode == 0 and "listed 200 []" in result.stdout,
            f"the snippet starts the image, waits on /_sim/health and calls it: {result.stdout.strip()[-300:]}",
        )
    finally:
        service.terminate()
        service.wait(10)


def scenario_loads(server: Client) -> None:
    print("scenarios", flush=True)
    status, answer = server.call("POST", "/_sim/scenarios", {"path": "mine.toml"})
    check(
        status in (200, 201),
        f'POST /_sim/scenarios {{"path": "mine.toml"}} (mounted /scenarios): {status} {short(answer)}',
    )
    visit = (datetime.date.today() + datetime.timedelta(days=31)).isoformat()
    status, draft = server.call(
        "POST",
        API,
        {
            "partnerId": PARTNER,
            "sellToOrderReference": f"IMAGE-TEST-MINE-{RUN}",
            "items": [{"itemNumber": "31001", "visitDate": visit, "visitTime": "10:30:00", "quantity": 1}],
        },
        headers=KEY,
    )
    check(status == 201 and draft.get("status") == "Draft", f"a Draft to confirm: {status} {short(draft)}")
    status, refused = server.call(
        "POST", f"{API}/{draft.get('orderId')}/confirm", {"paymentReference": "P"}, headers=KEY
    )
    check(
        status == 400 and "image test: confirm refused once" in json.dumps(refused),
        f"its rule fires: the next confirm answers {status}",
    )
    status, confirmed = server.call(
        "POST", f"{API}/{draft.get('orderId')}/confirm", {"paymentReference": "P"}, headers=KEY
    )
    check(status == 200, f"and the one after: {status}")
    for request in ({"name": "sold-out"}, {"path": "sold-out.toml"}):
        status, answer = server.call("POST", "/_sim/scenarios", request)
        check(status in (200, 201), f"POST /_sim/scenarios {json.dumps(request)} (bundled): {status} {short(answer)}")
    status, answer = server.call("POST", "/_sim/scenarios", {"path": "../etc/passwd.toml"})
    check(status == 400, f"a path outside the scenario directories is refused: {status}")
    status, _ = server.call("DELETE", "/_sim/scenarios")
    check(status == 200, f"DELETE /_sim/scenarios: {status}")


def healthcheck() -> None:
    """podman runs health checks from systemd timers, absent here: run the image's check by hand."""
    print("health check", flush=True)
    result = podman("healthcheck", "run", NAME, check=False)
    check(
        result.returncode == 0,
        f"podman healthcheck run: exit {result.returncode} {result.stdout.strip()} {result.stderr.strip()[-200:]}",
    )
    state = container_state()
    health = state.get("Health") or state.get("Healthcheck") or {}
    check(health.get("Status") == "healthy", f"podman inspect: State.Health.Status {health.get('Status')!r}")


def call_in_progress(server: Client, order_id: str) -> threading.Thread:
    """A get slowed by a 2 s latency rule, started half a second before the caller stops the
    container: a graceful stop answers it first."""
    status, answer = server.call("POST", "/_sim/faults", {"operation": "get", "latency_ms": 2000, "times": 1})
    check(status == 201, f"a 2 s latency rule for the next get: {status} {short(answer)}")

    def get() -> None:
        try:
            worker.answer = server.call("GET", f"{API}/{order_id}", headers=KEY, timeout=15)[0], "answered"
        except OSError as error:
            worker.answer = None, str(error)

    worker = threading.Thread(target=get, daemon=True)
    worker.answer = None  # type: ignore[attr-defined]
    worker.start()
    time.sleep(0.5)
    return worker


def stop_and_check(label: str) -> None:
    began = time.monotonic()
    podman("stop", "--time", str(int(STOP_LIMIT)), NAME)
    took = time.monotonic() - began
    state = container_state()
    log = logs()
    facts.append(f"{label}: podman stop took {took:.2f} s, exit code {state.get('ExitCode')}")
    print("  " + facts[-1])
    check(took < STOP_LIMIT - 1, f"{label}: stopped in {took:.2f} s (within {STOP_LIMIT:g} s, with a second to spare)")
    check(state.get("ExitCode") == 0, f"{label}: exit code {state.get('ExitCode')} (137: killed)")
    check("Traceback" not in log, f"{label}: no traceback in the log")
    check("cm-sim stopped" in log, f"{label}: the log ends with its stop line")


def populate(server: Client, count: int) -> None:
    """`count` copies of one Issued order, imported in chunks (one namespace each), as make bench does."""
    visit = (datetime.date.today() + datetime.timedelta(days=40)).isoformat()
    status, first = server.call(
        "POST",
        API,
        {
            "partnerId": PARTNER,
            "sellToOrderReference": f"SEED-{RUN}",
            "paymentReference": "P",
            "items": [{"itemNumber": "31001", "visitDate": visit, "visitTime": "10:30:00", "quantity": 2}],
        },
        headers=KEY,
    )
    if status != 201:
        raise Failure(f"populate: create {status} {short(first)}")
    state = server.call("GET", "/_sim/state", timeout=300)[1]
    template = next(record for record in state["orders"] if record["order_id"] == first["orderId"])
    chunk = 2000
    for begin in range(0, count, chunk):
        records = order_copies(template, f"bulk-{begin}", begin, min(count, begin + chunk))
        status, answer = server.call("PUT", "/_sim/state", {"orders": records, "clock": state["clock"]}, timeout=300)
        if status != 200:
            raise Failure(f"populate: import {status} {short(answer)}")


def cleanup(work: Path) -> None:
    if shutil.which("podman"):
        for container in (NAME, EXAMPLE):
            podman("rm", "--force", "--time", "0", container, check=False)
        for volume in (VOLUME, EXAMPLE):
            podman("volume", "rm", "--force", volume, check=False)
    shutil.rmtree(work, ignore_errors=True)


# -- helpers --------------------------------------------------------------------------


class Client:
    def __init__(self, port: int):
        self.port = port

    def call(
        self, method: str, path: str, body=None, headers: dict | None = None, raw: bool = False, timeout: float = 30
    ):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        if raw:
            return status, payload
        try:
            return status, json.loads(payload or b"null") or {}
        except ValueError:
            return status, {"text": payload[:200].decode(errors="replace")}


def container_state() -> dict:
    result = podman("inspect", "--type", "container", NAME, check=False)
    return json.loads(result.stdout)[0].get("State", {}) if result.returncode == 0 else {}


def logs() -> str:
    result = podman("logs", NAME, check=False)
    return result.stdout + result.stderr


def podman(*args: str, check: bool = True, stdin=None) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], stdin=stdin, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise Failure(f"podman {' '.join(args)[:120]}: exit {result.returncode}: {result.stderr.strip()[-500:]}")
    return result


def run(command: list[str], env: dict | None = None, quiet: bool = False) -> None:
    result = subprocess.run(
        command,
        env={**os.environ, **(env or {})},
        text=True,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
    )
    if result.returncode != 0:
        raise Failure(f"{' '.join(command)}: exit {result.returncode}\n{(result.stdout or '')[-2000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def short(answer) -> str:
    return json.dumps(answer)[:160]


if __name__ == "__main__":
    sys.exit(main())
