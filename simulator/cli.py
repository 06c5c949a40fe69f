"""`cm-sim serve`: run the simulator on its production HTTP server (simulator.server)."""
from __future__ import annotations

import argparse
import logging
import os
import threading
import sys

DEFAULT_PORT = 8080


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cm-sim", description="NaviPartner Channel Manager API simulator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--scenario", action="extend", nargs="+", default=[], metavar="FILE",
                       help="scenario file laid over the default catalog (repeatable)")
    serve.add_argument("--data", metavar="FILE", help="keep state in this TinyDB file across restarts")
    serve.add_argument("--seed", type=int, help="make generated ids and numbers reproducible")
    serve.add_argument("--ota", action="store_true",
                       help="every partner on the asynchronous OTA Channel Manager (else: per partner, in scenarios)")
    serve.add_argument("--quiet", action="store_true", help="do not print a line per request")
    serve.add_argument("--control-token", metavar="TOKEN", default=os.environ.get("CM_SIM_CONTROL_TOKEN"),
                       help="require this x-sim-token header on the control API (or set CM_SIM_CONTROL_TOKEN)")
    args = parser.parse_args(argv)
    return run_server(args)


def run_server(args: argparse.Namespace) -> int:
    from simulator.app import create_app
    from simulator.backend import Backend
    from simulator.errors import StartupError
    from simulator.scenario import ScenarioError
    from simulator.server import HTTPServer, freeze_survivors, warm_up

    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    try:
        backend = Backend(scenarios=args.scenario, data_file=args.data, seed=args.seed, ota=args.ota)
    except (ScenarioError, StartupError) as error:
        print(f"cm-sim: {error}", file=sys.stderr)
        return 2
    app = create_app(backend, args.control_token)
    freeze_survivors()
    server = HTTPServer(app, host=args.host, port=args.port)
    storage = args.data or "memory"
    print(f"cm-sim serving on {server.url} (data: {storage})", flush=True)
    threading.Thread(target=warm_up, args=(backend.numbers,), daemon=True).start()
    try:
        server.serve()
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
