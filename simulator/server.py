"""Serve an app on waitress in a background thread (for tests and embedding)."""
from __future__ import annotations

import threading

THREADS = 8


class ThreadedServer:
    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, threads: int = THREADS):
        from waitress import create_server

        self.app = app
        self._sockets: dict = {}  # waitress's socket map: the listener and every open connection
        self._server = create_server(app, host=host, port=port, threads=threads, map=self._sockets)
        self.url = f"http://{host}:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name="cm-sim", daemon=True)

    def start(self) -> ThreadedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once, closing idle keep-alive connections too."""
        self.app.wsgi_app.stopping.set()
        self._server.close()
        connections = list(self._sockets.values())
        self._sockets.clear()  # waitress's loop ends when its map is empty
        self._thread.join(timeout=10)
        for connection in connections:
            connection.close()
        self._server.task_dispatcher.shutdown()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
