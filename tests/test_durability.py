"""--data FILE when storage fails: a full disk, read-only files, damaged files, failed rewrites.

A change the server cannot write answers 503 and is not made; start-up refuses files it
cannot use in one line (`cm-sim: ...`, exit status 2) and touches nothing; only a journal's
last line cut off by a crash is skipped; a snapshot that cannot be rewritten drops no change.
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import requests

from simulator import Backend, cli, create_app
from simulator.persistence import WriteAheadLog
from tests.helpers import DEMO, TENANT, Api, Served, order_body

CM_SIM = str(Path(sys.executable).with_name("cm-sim"))
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
LIVENESS = 30  # seconds: a bound for a process that should long have answered, never a speed check


# -- running the server ------------------------------------------------------------


class NobodyServed(Served):
    """`cm-sim serve --data FILE` as the unprivileged user 65534 (root bypasses file permissions)."""

    def __init__(self, data: Path):
        command = [*AS_NOBODY, CM_SIM, "serve", "--port", "0", "--quiet", "--data", str(data)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.process.stdout.readline()
        assert "serving on" in first, first + self.process.stderr.read()
        self.url = first.split("serving on ")[1].split()[0]


@pytest.fixture
def servers():
    """Start servers through `servers.append(...)`; whatever still runs at the end is killed."""
    started = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate()


def kill(served: Served) -> None:
    served.process.kill()
    served.process.communicate()


def terminate(served: Served) -> tuple[int, str]:
    """SIGTERM (a graceful stop): exit status and standard error."""
    served.process.send_signal(signal.SIGTERM)
    _, errors = served.process.communicate(timeout=LIVENESS)
    return served.process.returncode, errors


def create(served: Served, reference: str) -> requests.Response:
    return served.call("POST", json=order_body(reference=reference))


def created(served: Served, reference: str) -> dict:
    response = create(served, reference)
    assert response.status_code == 201, response.text
    return without_address(served, response)


def listed(served: Served, reference: str) -> list:
    return served.call("GET", f"/orders/{DEMO}", params={"sellToOrderReference": reference}).json()


def stored(served: Served, orders: list[dict]) -> list[dict]:
    """The orders as the server now has them, to compare with `orders` as acknowledged."""
    return [without_address(served, served.call("GET", f"/{order['orderId']}")) for order in orders]


def without_address(served: Served, response: requests.Response) -> dict:
    """The JSON answered, its manifest URLs without the server's address (a restart changes the port)."""
    return json.loads(response.text.replace(served.url, "http://server"))


def stored_after_a_restart(data: Path, orders: list[dict]) -> list[dict]:
    """`stored` by a server started again on `data` (here, in this process)."""
    api = Api(create_app(Backend(data_file=data)).test_client())
    return [
        json.loads(api.get(order["orderId"]).get_data(as_text=True).replace("http://localhost", "http://server"))
        for order in orders
    ]


def limit_file_size(pid: int, size: int | None) -> None:
    """Writes of `pid` past `size` bytes of any file fail with EFBIG (a full disk); None lifts it."""
    soft = resource.RLIM_INFINITY if size is None else size
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, resource.RLIM_INFINITY))


def start_refused(data: Path, monkeypatch, capsys) -> str:
    """`cm-sim serve --data DATA` in this process, which must refuse to start: its one line."""

    def started(*args, **kwargs):
        raise AssertionError(f"cm-sim started serving on {data}")

    monkeypatch.setattr("simulator.app.create_app", started)
    capsys.readouterr()
    code = cli.main(["serve", "--port", "0", "--quiet", "--data", str(data)])
    errors = capsys.readouterr().err
    assert_one_line_refusal(code, errors)
    return errors


def assert_one_line_refusal(code: int, errors: str) -> None:
    assert (code, errors.count("\n"), errors[:8]) == (2, 1, "cm-sim: "), errors
    assert "Traceback" not in errors and "Error" not in errors and "Errno" not in errors, errors


def files(folder: Path) -> dict:
    """Every file under `folder` with its bytes (folders as None): to see that nothing changed."""
    return {
        str(path.relative_to(folder)): None if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


def journal_lines(data: Path) -> list[dict]:
    """Every line of FILE.journal, each of which must be whole JSON."""
    return [json.loads(line) for line in data.with_name(data.name + ".journal").read_text().splitlines()]


# -- files for start-up -------------------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A snapshot holding two orders, and the journal lines that stored two more."""
    data = tmp_path_factory.mktemp("real") / "state.json"
    backend = Backend(data_file=data, seed=5)
    api = Api(create_app(backend).test_client())
    for reference in ("SNAP-1", "SNAP-2"):
        api.created(order_body(reference=reference))
    backend.close()
    for reference in ("LINE-1", "LINE-2"):
        api.created(order_body(reference=reference))
    lines = data.with_name("state.json.journal").read_bytes().splitlines(keepends=True)
    return {"snapshot": data.read_bytes(), "lines": lines}


def snapshot_without(real: dict, field: str) -> bytes:
    data = json.loads(real["snapshot"])
    for record in data["orders"].values():
        del record[field]
    return json.dumps(data).encode()


BAD_ORDER = json.dumps(
    {
        "put": [
            {
                "namespace": [TENANT, "production", "CRONUS International Ltd."],
                "order_id": "d1d1d1d1-0000-4000-8000-000000000001",
            }
        ],
        "remove": [],
    }
).encode()


# -- a full disk ----------------------------------------------------------------------


def test_a_full_disk_answers_503_stores_nothing_and_loses_nothing_acknowledged(tmp_path, servers):
    data = tmp_path / "state.json"
    journal = tmp_path / "state.json.journal"
    served = Served("--data", str(data))
    servers.append(served)
    acknowledged = [created(served, "FULL-1")]
    size = journal.stat().st_size
    limit_file_size(served.process.pid, size + 100)  # the next line is written in part, then fails

    refused = create(served, "FULL-2")
    assert refused.status_code == 503, refused.text
    assert list(refused.json()) == ["code", "message"] and refused.json()["code"] == "service_unavailable"
    assert "nothing was changed" in refused.json()["message"]
    assert listed(served, "FULL-2") == []
    assert journal.stat().st_size == size  # the part written was cut off again
    assert len(journal_lines(data)) == 1

    limit_file_size(served.process.pid, None)  # space comes back
    acknowledged.append(created(served, "FULL-2"))  # not "already exists": nothing was left of it
    acknowledged.append(created(served, "FULL-3"))
    kill(served)

    restarted = Served("--data", str(data))
    servers.append(restarted)
    assert stored(restarted, acknowledged) == acknowledged


def test_a_stop_that_cannot_rewrite_the_snapshot_says_so_and_loses_nothing(tmp_path, servers):
    data = tmp_path / "state.json"
    served = Served("--data", str(data))
    servers.append(served)
    acknowledged = [created(served, f"STOP-{n}") for n in range(2)]
    limit_file_size(served.process.pid, 1000)  # smaller than a snapshot of two orders

    code, errors = terminate(served)
    assert code == 0, errors
    assert errors.count("\n") == 1 and "Traceback" not in errors, errors
    assert errors.startswith(f"cm-sim: could not rewrite {data} at this stop (the file has reached its size limit)")
    assert "nothing was lost" in errors
    assert stored_after_a_restart(data, acknowledged) == acknowledged


def test_a_failed_start_up_rewrite_refuses_to_start_and_keeps_the_journal(tmp_path, real):
    data = tmp_path / "state.json"
    data.write_bytes(real["snapshot"])
    data.with_name("state.json.journal").write_bytes(b"".join(real["lines"]))  # replayed, so rewritten
    before = files(tmp_path)

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))

    result = subprocess.run(
        [CM_SIM, "serve", "--port", "0", "--quiet", "--data", str(data)],
        preexec_fn=small_disk,
        capture_output=True,
        text=True,
        timeout=LIVENESS,
    )
    assert_one_line_refusal(result.returncode, result.stderr)
    assert result.stderr.startswith(f"cm-sim: could not rewrite {data} (the file has reached its size limit)")
    assert files(tmp_path) == before

    backend = Backend(data_file=data)
    assert len(backend.store) == 4
    backend.close()


# -- a failed rewrite in the background ---------------------------------------------


def test_a_failed_background_rewrite_is_told_in_one_line_and_loses_nothing(tmp_path, monkeypatch, capsys):
    data = tmp_path / "state.json"
    crashed = []
    monkeypatch.setattr(threading, "excepthook", crashed.append)
    journal = WriteAheadLog(data)
    journal.append([record("A", "Draft")], [])
    blocker = tmp_path / "state.json.tmp"
    blocker.mkdir()  # where the snapshot is written: the write fails
    capsys.readouterr()

    journal.compact_in_background(lambda: [record("A", "Draft")])
    journal.wait()
    assert crashed == []
    errors = capsys.readouterr().err
    assert errors.count("\n") == 1 and errors.startswith(f"cm-sim: could not rewrite {data} in the background"), errors
    assert data.with_name("state.json.journal.1").exists()
    journal.append([record("B", "Draft")], [])
    assert statuses(WriteAheadLog(data).load()) == {"A": "Draft", "B": "Draft"}  # killed now: nothing lost

    blocker.rmdir()
    journal.compact_in_background(lambda: [record("A", "Draft"), record("B", "Draft")])
    journal.wait()
    assert not data.with_name("state.json.journal.1").exists()
    assert statuses(WriteAheadLog(data).load()) == {"A": "Draft", "B": "Draft"}


def record(order_id: str, status: str) -> dict:
    return {"namespace": ["t", "e", "c"], "order_id": order_id, "status": status}


def statuses(records: dict) -> dict:
    return {value["order_id"]: value["status"] for value in records.values()}


# -- replaying the journal --------------------------------------------------------------


def test_a_torn_last_journal_line_is_skipped_with_a_warning_and_not_appended_to(tmp_path, capsys):
    data = tmp_path / "state.json"
    journal = tmp_path / "state.json.journal"
    api = Api(create_app(Backend(data_file=data)).test_client())
    kept = api.created(order_body(reference="KEPT"))
    with journal.open("ab") as file:
        file.write(b'{"put":[{"namespace":["t"')  # killed in the middle of writing line 2
    capsys.readouterr()

    api = Api(create_app(Backend(data_file=data)).test_client())
    errors = capsys.readouterr().err
    assert errors.count("\n") == 1, errors
    assert errors.startswith(f"cm-sim: {journal} line 2 was cut off by a crash (a change that was never acknowledged)")
    assert api.get(kept["orderId"]).get_json() == kept
    assert journal.read_bytes() == b""  # folded into the snapshot: no change follows the torn line
    later = api.created(order_body(reference="LATER"))
    api = Api(create_app(Backend(data_file=data)).test_client())
    assert [api.get(order["orderId"]).get_json() for order in (kept, later)] == [kept, later]


@pytest.mark.parametrize(
    "bad, problem",
    [
        (b'{"put": [{"namespace\n', "is not valid JSON"),
        (b"[]\n", "is not a change record"),
        (b'{"put": 5}\n', "is not a change record"),
        (BAD_ORDER + b"\n", "holds an order that cannot be read"),
    ],
    ids=["torn-in-the-middle", "a-list", "put-not-a-list", "an-unreadable-order"],
)
def test_a_damaged_journal_line_before_the_last_refuses_to_start_and_changes_nothing(
    tmp_path, real, monkeypatch, capsys, bad, problem
):
    data = tmp_path / "state.json"
    journal = tmp_path / "state.json.journal"
    data.write_bytes(real["snapshot"])
    journal.write_bytes(real["lines"][0] + bad + real["lines"][1])
    before = files(tmp_path)

    errors = start_refused(data, monkeypatch, capsys)
    assert errors.startswith(f"cm-sim: {journal} line 2 {problem}: remove that line (losing that change)"), errors
    assert errors.rstrip().endswith("then start again")
    assert files(tmp_path) == before


# -- start-up checks ----------------------------------------------------------------------


def truncated(folder, real):
    (folder / "state.json").write_bytes(real["snapshot"][: len(real["snapshot"]) // 2])


def garbage(folder, real):
    (folder / "state.json").write_bytes(b"\x00\x9f not a data file at all")


def a_list(folder, real):
    (folder / "state.json").write_bytes(b"[]")


def orders_not_a_table(folder, real):
    (folder / "state.json").write_bytes(b'{"orders": 5}')


def records_lacking_fields(folder, real):
    (folder / "state.json").write_bytes(snapshot_without(real, "lines"))


def a_folder(folder, real):
    (folder / "state.json").mkdir()


def a_journal_line_that_is_a_list(folder, real):
    (folder / "state.json").write_bytes(real["snapshot"])
    (folder / "state.json.journal").write_bytes(b"[]\n")


@pytest.mark.parametrize(
    "damage, says",
    [
        (truncated, "state.json is not valid JSON"),
        (garbage, "state.json is not valid JSON"),
        (a_list, "state.json is not a simulator data file"),
        (orders_not_a_table, "state.json is not a simulator data file"),
        (records_lacking_fields, 'state.json: the order stored as "1" cannot be read'),
        (a_folder, "state.json is a folder, not a data file"),
        (a_journal_line_that_is_a_list, "state.json.journal line 1 is not a change record"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_a_data_file_that_cannot_be_used_is_refused_in_one_line(tmp_path, real, monkeypatch, capsys, damage, says):
    damage(tmp_path, real)
    before = files(tmp_path)
    errors = start_refused(tmp_path / "state.json", monkeypatch, capsys)
    assert says in errors
    assert files(tmp_path) == before


def test_a_data_file_in_a_missing_folder_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    errors = start_refused(tmp_path / "missing" / "state.json", monkeypatch, capsys)
    assert f"the folder of the data file, {tmp_path / 'missing'}, does not exist" in errors
    assert list(tmp_path.iterdir()) == []


# -- permissions (as the unprivileged user 65534: root may write anything) ------------------


@pytest.fixture(scope="module")
def nobody():
    """Skips unless this can run the server as user 65534."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("running the server as another user needs root and setpriv")
    probe = subprocess.run([*AS_NOBODY, sys.executable, "-c", "import simulator"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"user {NOBODY} cannot run this virtualenv: {probe.stderr.strip()[-200:]}")


@pytest.fixture
def shared(nobody):
    """A folder user 65534 can reach (pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="cm-sim-durability-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


def owned_by_nobody(*paths: Path) -> None:
    for path in paths:
        os.chown(path, NOBODY, NOBODY)


def read_only_folder(folder: Path) -> Path:
    (folder / "state.json").write_text('{"orders": {}}')
    owned_by_nobody(folder, folder / "state.json")
    (folder / "state.json").chmod(0o444)
    folder.chmod(0o555)
    return folder / "state.json"


def read_only_file(folder: Path) -> Path:
    (folder / "state.json").write_text('{"orders": {}}')
    owned_by_nobody(folder, folder / "state.json")
    (folder / "state.json").chmod(0o444)
    return folder / "state.json"


def unreadable_file(folder: Path) -> Path:
    (folder / "state.json").write_text('{"orders": {}}')  # root's
    (folder / "state.json").chmod(0o600)
    owned_by_nobody(folder)
    return folder / "state.json"


@pytest.mark.parametrize(
    "setup, says",
    [
        (read_only_folder, "cannot create files in {folder} (it is not writable)"),
        (read_only_file, "{folder}/state.json cannot be opened for reading and writing (permission denied)"),
        (unreadable_file, "{folder}/state.json cannot be opened for reading and writing (permission denied)"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_storage_the_server_cannot_write_is_refused_at_start(shared, setup, says):
    folder = shared / "data"
    folder.mkdir()
    data = setup(folder)
    before = files(folder)
    command = [*AS_NOBODY, CM_SIM, "serve", "--port", "0", "--quiet", "--data", str(data)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=LIVENESS)
    assert_one_line_refusal(result.returncode, result.stderr)
    assert says.format(folder=folder) in result.stderr
    assert files(folder) == before


def test_storage_that_turns_read_only_while_serving_refuses_changes_and_loses_nothing(shared, servers):
    folder = shared / "data"
    folder.mkdir()
    owned_by_nobody(folder)
    data = folder / "state.json"
    served = NobodyServed(data)
    servers.append(served)
    kept = created(served, "RO-1")
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)

    refused = create(served, "RO-2")
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "service_unavailable"
    assert "(it is not writable); nothing was changed" in refused.json()["message"]
    assert listed(served, "RO-2") == []
    code, errors = terminate(served)
    assert code == 0, errors
    assert errors.count("\n") == 1 and "Traceback" not in errors, errors
    assert f"could not rewrite {data} at this stop (it is not writable); nothing was lost" in errors

    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    assert stored_after_a_restart(data, [kept]) == [kept]
    assert Api(create_app(Backend(data_file=data)).test_client()).list(sellToOrderReference="RO-2").get_json() == []
