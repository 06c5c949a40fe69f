"""`cm-sim serve`: run the simulator on its production HTTP server (simulator.server)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
import threading

DEFAULT_PORT = 8080


def main(argv: list[str] | None = None) -> int:
    from simulator.version import VERSION

    parser = argparse.ArgumentParser(prog="cm-sim", description="NaviPartner Channel Manager API simulator")
    parser.add_argument("--version", action="version", version=f"cm-sim {VERSION}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the API over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one and prints it)",
    )
    serve.add_argument(
        "--scenario",
        action="extend",
        nargs="+",
        default=[],
        metavar="FILE",
        help="scenario file laid over the default catalog (repeatable)",
    )
    serve.add_argument("--data", metavar="FILE", help="keep state in this TinyDB file across restarts")
    serve.add_argument(
        "--state",
        metavar="FILE",
        help="start from a GET /_sim/state export (with --data: only when the data file is new or empty)",
    )
    serve.add_argument("--seed", type=int, help="make generated ids and numbers reproducible")
    serve.add_argument(
        "--ota",
        action="store_true",
        help="every partner on the asynchronous OTA Channel Manager (else: per partner, in scenarios)",
    )
    serve.add_argument("--quiet", action="store_true", help="do not print a line per request")
    serve.add_argument(
        "--control-token",
        metavar="TOKEN",
        default=os.environ.get("CM_SIM_CONTROL_TOKEN"),
        help="require this x-sim-token header on the control API (or set CM_SIM_CONTROL_TOKEN)",
    )
    serve.add_argument(
        "--allow-remote-control",
        action="store_true",
        help="without a control token, still serve the control API to calls addressed to any host "
        "(else only to localhost, 127.0.0.1, [::1] and --host); prints a warning",
    )
    serve.add_argument(
        "--scenario-dir",
        action="append",
        default=[],
        metavar="DIR",
        help='a directory whose .toml files POST /_sim/scenarios {"path": ...} may load, '
        "besides the bundled scenarios (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.command is None:  # bare `cm-sim`
        parser.print_help()
        return 2
    return run_server(args)


def run_server(args: argparse.Namespace) -> int:
    from simulator.app import create_app
    from simulator.backend import Backend
    from simulator.errors import StartupError
    from simulator.scenario import ScenarioError
    from simulator.server import HTTPServer, freeze_survivors, return_large_blocks, warm_up

    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    refusal = _refusal(args)
    if refusal:
        print(f"cm-sim: {refusal}", file=sys.stderr)
        return 2
    if args.allow_remote_control and not args.control_token:
        print(
            "cm-sim: warning: --allow-remote-control without --control-token: any host or web page that reaches "
            "this server can drive its control API",
            file=sys.stderr,
        )
    try:
        backend = Backend(
            scenarios=args.scenario, data_file=args.data, seed=args.seed, ota=args.ota, scenario_dirs=args.scenario_dir
        )
    except (ScenarioError, StartupError) as error:
        print(f"cm-sim: {error}", file=sys.stderr)
        return 2
    refusal = _load_state(backend, args.state, args.data) if args.state else None
    if refusal:
        backend.stop()
        print(f"cm-sim: {refusal}", file=sys.stderr)
        return 2
    app = create_app(
        backend, args.control_token, allow_remote_control=args.allow_remote_control, control_host=args.host
    )
    freeze_survivors()
    return_large_blocks()
    try:
        server = HTTPServer(app, host=args.host, port=args.port)
    except OSError as error:
        backend.stop()
        print(f"cm-sim: {_cannot_listen(args.host, args.port, error)}", file=sys.stderr)
        return 2
    token = "on (x-sim-token)" if args.control_token else "off"
    print(
        f"cm-sim serving on {server.url} (data: {args.data or 'memory'}; dashboard {server.url}/_sim/; "
        f"control token {token})",
        flush=True,
    )
    threading.Thread(target=warm_up, args=(backend.numbers,), daemon=True).start()
    try:
        server.serve()
    finally:
        backend.close()
    print(f"cm-sim stopped{f' (data in {args.data})' if args.data else ''}", flush=True)
    return 0


def _load_state(backend, path: str, data_file: str | None) -> str | None:
    """Import the export in `path`; why it cannot be, in one line (None once imported)."""
    import json

    from simulator.model import InvalidImport
    from simulator.scenario import UnusableData, usable_data

    if data_file and len(backend.store):
        return (
            f"--state {path}: the data file {data_file} already holds orders; "
            "start without --state, or with a new --data file"
        )
    try:
        with open(path, "rb") as exported:
            state = usable_data(json.loads(exported.read()))
        backend.import_state(state)
    except OSError as error:
        return f"--state {path} cannot be read ({error.strerror})"
    except (ValueError, RecursionError) as error:
        detail = str(error) if isinstance(error, (InvalidImport, UnusableData)) else "it is not JSON"
        return f"--state {path} is not a state exported by GET /_sim/state: {detail}"
    return None


def _cannot_listen(host: str, port: int, error: OSError) -> str:
    """Why the server cannot listen, in one line that says what to do."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use: stop what uses it, "
            "or pick another with --port (0 picks a free one)"
        )
    if error.errno == errno.EACCES:
        return f"no permission to listen on port {port}: pick a port above 1023 with --port"
    return f"cannot listen on --host {host}: not an address of this machine (try 127.0.0.1, or 0.0.0.0 for all)"


def _refusal(args: argparse.Namespace) -> str | None:
    """Why these options must not start a server, in one line; None when they may."""
    if not 0 <= args.port <= 65535:
        return f"--port {args.port} is out of range: use 1 to 65535, or 0 to pick a free one"
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(args.host.strip("[]"), None)}
    except (OSError, UnicodeError):
        return f"cannot listen on --host {args.host}: no such address (try 127.0.0.1, or 0.0.0.0 for all)"
    for directory in args.scenario_dir:
        if not os.path.isdir(directory):
            return f"--scenario-dir {directory} is not a directory"
    if not args.control_token and not args.allow_remote_control and not _loopback_host(args.host, addresses):
        return (
            f"--host {args.host} would open the control API to the network; give --control-token TOKEN, "
            "or --allow-remote-control to open it anyway"
        )
    return None


def _loopback_host(host: str, addresses: set[str]) -> bool:
    """Whether `host` is a loopback name or every address it stands for (`addresses`) is a loopback one."""
    from simulator.control import is_loopback

    if is_loopback(host.strip("[]").lower()):
        return True
    return bool(addresses) and all(is_loopback(address.split("%")[0]) for address in addresses)


if __name__ == "__main__":
    sys.exit(main())
