"""The HTTP server under the Flask app: granian (a Rust HTTP server, run in this process)
speaking RSGI to a small bridge that calls the WSGI app on a pool of threads.

For each request the bridge, on granian's event loop:
1. reads the whole body, at most MAX_BODY_BYTES within BODY_SECONDS (413 or 408 JSON
   otherwise), so a slow or stalled upload holds no thread;
2. hands the call to one of THREADS app threads and waits for its answer;
3. sends the answer, or carries out the transport fault the view asked for
   (simulator.transport); a hang waits on the loop, not in a thread, until its time is up,
   the client leaves or the server stops.

Also here: the garbage-collection policy of `cm-sim serve`, and ThreadedServer, the same
server in a background thread (for tests and embedding).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
import queue
import signal
import socket
import sys
import threading
from typing import Any

from simulator import transport
from simulator.app import MAX_BODY_BYTES, TOO_LARGE
from simulator.errors import json_bytes

THREADS = 16  # app threads: calls in the app at once; the others wait for one, holding no thread
BODY_SECONDS = 30  # the whole body must arrive within this, else 408 and the connection is closed
MAX_CONCURRENT_REQUESTS = 2048  # requests past the headers at once (granian's backpressure)
BACKLOG = 1024
STOP_SECONDS = 5  # a graceful stop waits this long for calls in progress (docker stop gives 10 s in all)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter

log = logging.getLogger("simulator")


class AppThreads:
    """A fixed pool of threads running WSGI calls; each answer comes back as an asyncio future."""

    def __init__(self, count: int):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"cm-sim-{n}", daemon=True) for n in range(count)]
        for thread in self._threads:
            thread.start()

    def call(self, loop: asyncio.AbstractEventLoop, function, argument) -> asyncio.Future:
        future = loop.create_future()
        self._calls.put((loop, future, function, argument))
        return future

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            self._answer(*call)
            del call  # an idle thread holds no request (a body may be 32 MiB)

    @staticmethod
    def _answer(loop, future, function, argument) -> None:
        try:
            result, failure = function(argument), None
        except BaseException as error:  # handed to the loop, which answers for it
            result, failure = None, error
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped, nobody waits
            loop.call_soon_threadsafe(_settle, future, result, failure)

    def stop(self) -> None:
        """End the threads once they have taken the calls queued before this."""
        for _ in self._threads:
            self._calls.put(None)


def _settle(future: asyncio.Future, result, failure) -> None:
    if future.done():
        return
    if failure is None:
        future.set_result(result)
    else:
        future.set_exception(failure)


class Bridge:
    """The RSGI application granian calls: body first, then the WSGI app in a thread."""

    def __init__(self, app, body_seconds: float = BODY_SECONDS):
        self.app = app
        self.body_seconds = body_seconds
        self.threads: AppThreads  # started by granian's __rsgi_init__, once serving
        self.stopping = asyncio.Event()  # set when the server stops: hangs end
        self._calls = 0  # requests between their whole body and their answer
        self._idle = asyncio.Event()
        self._reading: set[asyncio.Future] = set()  # one future per body on its way, set at a stop
        self.base_environ = {
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "SCRIPT_NAME": "",
            "SERVER_SOFTWARE": "cm-sim",
            transport.SERVED_KEY: True,
        }

    def __rsgi_init__(self, loop) -> None:
        self.threads = AppThreads(THREADS)

    def stop(self) -> None:
        """Hangs end; bodies still on their way are given up."""
        self.stopping.set()
        for reading in self._reading:
            reading.set_result(None)

    async def drained(self, timeout: float) -> None:
        """Wait for the calls in progress to be answered (up to `timeout`), then end the threads."""
        if self._calls:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                log.warning("stopped with %d calls unanswered after %d s", self._calls, timeout)
        self.threads.stop()

    async def __rsgi__(self, scope, protocol) -> None:
        try:
            body = await self._body(scope, protocol)
        except _Refused as refused:
            protocol.response_bytes(refused.status, refused.headers, refused.body)
            return
        self._calls += 1  # a stop waits for it from here on (a body still on its way is given up)
        try:
            await self._answer(scope, protocol, body)
        finally:
            self._calls -= 1
            if not self._calls:
                self._idle.set()

    async def _answer(self, scope, protocol, body: bytes) -> None:
        loop = asyncio.get_running_loop()
        environ = self._environ(scope, body)
        try:
            status, headers, payload = await self.threads.call(loop, self._call_app, environ)
        except Exception:
            log.exception("the server failed to answer a call")
            refused = _Refused(503, "service_unavailable", "The simulator failed to answer this call; see its log.")
            protocol.response_bytes(refused.status, refused.headers, refused.body)
            return
        fault = environ.get(transport.ENVIRON_KEY)
        if fault is None:
            protocol.response_bytes(status, headers, payload)
        else:
            await transport.carry_out(fault, scope, protocol, status, headers, payload, self.stopping)

    async def _body(self, scope, protocol) -> bytes:
        headers = scope.headers
        chunked = "transfer-encoding" in headers
        if not chunked and "content-length" not in headers:
            return b""
        if not chunked:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _Refused(413, "generic_error", TOO_LARGE)
        # granian's reads cannot be cancelled (a cancelled task would wait for the client all the
        # same), so the read is left behind on a timeout or a stop; it ends when the connection closes
        read = asyncio.ensure_future(self._read(protocol, chunked))
        stopped = asyncio.get_running_loop().create_future()
        self._reading.add(stopped)
        try:
            await asyncio.wait((read, stopped), timeout=self.body_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._reading.discard(stopped)
        if not read.done():
            read.cancel()
            if stopped.done():
                raise _Refused(503, "service_unavailable", "The simulator is stopping.", close=True)
            raise _Refused(
                408,
                "request_timeout",
                f"The request body did not arrive within {self.body_seconds:g} seconds.",
                close=True,
            )
        try:
            return read.result()
        except (RuntimeError, OSError):  # granian's ProtocolClosed: the client left mid-body, nobody reads an answer
            raise _Refused(400, "generic_error", "The request body was cut off.", close=True) from None

    @staticmethod
    async def _read(protocol, chunked: bool) -> bytes:
        if not chunked:
            return await protocol()  # granian reads exactly Content-Length bytes
        chunks, size = [], 0
        async for chunk in protocol:
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Refused(413, "generic_error", TOO_LARGE, close=True)
            chunks.append(chunk)
        return b"".join(chunks)

    def _environ(self, scope, body: bytes) -> dict:
        server_host, _, server_port = scope.server.rpartition(":")
        environ = {
            **self.base_environ,
            "REQUEST_METHOD": scope.method,
            # WSGI carries the decoded path's bytes as latin-1; granian gives it decoded as UTF-8
            "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
            "QUERY_STRING": scope.query_string,
            "SERVER_NAME": server_host.strip("[]"),
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
            "REMOTE_ADDR": scope.client.rpartition(":")[0].strip("[]"),
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)) if body else "",
        }
        for name, value in scope.headers.items():
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
            elif name not in ("content-length", "transfer-encoding"):
                key = "HTTP_" + name.upper().replace("-", "_")
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _call_app(self, environ: dict):
        answer: list = []

        def start_response(status, headers, exc_info=None):
            answer[:] = [int(status[:3]), headers]

        result = self.app(environ, start_response)
        try:
            payload = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return answer[0], answer[1], payload


class _Refused(Exception):
    """A request the bridge answers itself, without the app."""

    def __init__(self, status: int, code: str, message: str, close: bool = False):
        super().__init__(message)
        self.status = status
        self.body = json_bytes({"code": code, "message": message})  # the shape of every ApiError's body
        self.headers = [("content-type", "application/json; charset=utf-8")]
        if close:
            self.headers.append(("connection", "close"))


def listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so the port is known (also for port 0) before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(BACKLOG)
    except BaseException:
        listener.close()
        raise
    return listener


class HTTPServer:
    """The app on granian, in this process: `serve()` runs it in the calling thread until
    `stop()` (or SIGTERM / Ctrl-C, when called from the main thread)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, body_seconds: float = BODY_SECONDS):
        self.bridge = Bridge(app, body_seconds)
        self.listener = listen(host, port)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        self.started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._granian: Any = None

    def serve(self) -> None:
        self._loop = _new_event_loop()
        self._granian = _granian(self.listener, self.bridge)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(signum, self.stop)
        try:
            self._loop.run_until_complete(self._run())
            self._loop.run_until_complete(_cancel_the_rest())
        finally:
            self._loop.close()
            self.listener.close()

    async def _run(self) -> None:
        asyncio.get_running_loop().call_soon(self.started.set)
        await self._granian.serve()
        await self.bridge.drained(STOP_SECONDS)

    def stop(self) -> None:
        """Stop: hangs end, calls in progress finish, connections are closed. Safe from any thread."""
        loop = self._loop
        try:
            if loop is not None:
                loop.call_soon_threadsafe(self._stop_on_loop)
        except RuntimeError:
            pass  # the loop has closed: already stopped

    def _stop_on_loop(self) -> None:
        self.bridge.stop()
        self._granian.stop()


async def _cancel_the_rest() -> None:
    """End what is left on the loop once the server has stopped (requests whose body was
    still on its way), as asyncio.run does."""
    rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # faster than asyncio's own loop, where it installs (not on Windows)
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _granian(listener: socket.socket, bridge: Bridge) -> Any:
    """granian's embedded server (it runs on the caller's event loop) on our listening socket."""
    from granian._granian import SocketHolder
    from granian.constants import Interfaces
    from granian.server.embed import Server

    class Embedded(Server):
        def _init_shared_socket(self):
            self._ssp = None
            self._sfd = listener.detach()  # granian owns and closes it from here on
            self._shd = SocketHolder(self._sfd, False, BACKLOG)

    # granian's default asyncio tasks: its faster "rust" tasks show up, broken, in every other
    # event loop's asyncio.all_tasks() of the process (a partner's test process may run one)
    return Embedded(
        bridge,
        interface=Interfaces.RSGI,
        log_enabled=False,
        backlog=BACKLOG,
        backpressure=MAX_CONCURRENT_REQUESTS,
        websockets=False,
    )


def freeze_survivors() -> None:
    """Keep garbage collection pauses short however many orders are stored.

    A full collection walks every tracked object: at 100,000 stored orders that pauses
    every thread for a second or more. What is there at start-up and what survives a full
    collection is the app and the stored orders, so it is frozen (left out of later
    collections); orders hold no reference cycles, so reference counting still frees one
    when it is removed. For a process that only serves the simulator (`cm-sim serve`),
    not for one that embeds it."""

    def after_collection(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.freeze()
    gc.callbacks.append(after_collection)


def return_large_blocks() -> None:
    """Have the C allocator give blocks of 1 MiB and more back to the system when freed.

    glibc raises its threshold for that as large blocks are freed (up to 32 MiB), then keeps
    freed ones in per-thread arenas: fifteen 30 MB bodies, each read and refused, left the
    process near 2 GB resident. For `cm-sim serve`, not for a process that embeds the simulator."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(AttributeError):  # not glibc (musl has no mallopt): it returns large blocks anyway
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 1024 * 1024)


def warm_up(numbers) -> None:
    """Make Faker now (start-up does not wait for it), and freeze it with the rest of start-up."""
    numbers.warm_up()
    gc.freeze()


class ThreadedServer:
    """HTTPServer in a background thread: `with ThreadedServer(app) as server: server.url`."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, **options):
        self.app = app
        self.server = HTTPServer(app, host, port, **options)
        self.url = self.server.url
        self._thread = threading.Thread(target=self.server.serve, name="cm-sim", daemon=True)

    def start(self) -> ThreadedServer:
        self._thread.start()
        self.server.started.wait(10)
        return self

    def stop(self) -> None:
        """Stop at once: hangs end, calls in progress finish, connections are closed."""
        self.server.stop()
        self._thread.join(STOP_SECONDS + 5)
        self.app.extensions["simulator"].stop()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
