"""waitress's options and the garbage-collection policy of `cm-sim serve`, and ThreadedServer:
an app on waitress in a background thread (for tests and embedding)."""
from __future__ import annotations

import gc
import logging
import threading

THREADS = 16
# waitress reads ahead on a connection, so it notices a client that went away (which ends a hang);
# past its default of 100 open connections it accepts no more until idle ones time out (120 s),
# so a partner's leaked keep-alive sessions would lock everybody out: allow 1,000, and poll()
# rather than select(), which cannot watch more than 1,024 descriptors
SERVER_OPTIONS = {"threads": THREADS, "channel_request_lookahead": 1, "connection_limit": 1000,
                  "asyncore_use_poll": True}

# waitress warns "Task queue depth is N" whenever more calls wait than there are threads: in a
# partner's load test that is a line per call on the console (even with --quiet), about nothing wrong
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


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


def warm_up(numbers) -> None:
    """Make Faker now (start-up does not wait for it), and freeze it with the rest of start-up."""
    numbers.warm_up()
    gc.freeze()


class ThreadedServer:
    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        from waitress import create_server

        self.app = app
        self._sockets: dict = {}  # waitress's socket map: the listener and every open connection
        self._server = create_server(app, host=host, port=port, map=self._sockets, **SERVER_OPTIONS)
        self.url = f"http://{host}:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name="cm-sim", daemon=True)

    def start(self) -> ThreadedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once: hangs end, calls in progress finish, idle connections are closed."""
        self.app.wsgi_app.stopping.set()
        self.app.extensions["simulator"].stop()
        self._server.task_dispatcher.shutdown(timeout=10)  # the workers are done before any socket closes
        sockets = list(self._sockets.values())  # the listener, waitress's trigger, the connections
        self._sockets.clear()  # waitress's loop ends when its map is empty ...
        self._thread.join(timeout=10)
        for socket in sockets:  # ... and only then are the sockets closed under it
            socket.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
