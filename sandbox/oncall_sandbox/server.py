"""The sandbox HTTP server: app factory (API routes, control API, the middleware in middleware.py), CLI, threaded server for tests."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import socket
import ssl
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from oncall_sandbox import control_api, control_state, middleware
from oncall_sandbox import pagerduty as pagerduty_api
from oncall_sandbox import slack as slack_api
from oncall_sandbox.client import SandboxControl
from oncall_sandbox.clock import Clock
from oncall_sandbox.core import REQUEST_LOG_LIMIT, SANDBOX, Sandbox
from oncall_sandbox.seed import DEFAULT_SEED_PATH, SandboxSeed, SeedError, SlackPlan, load_seed
from oncall_sandbox.state import SandboxState
from oncall_sandbox.tls import TlsFiles, generate


def create_app(
    seed: SandboxSeed,
    *,
    time_scale: float = 1.0,
    start_time: datetime | None = None,
    slack_plan: str | None = None,
    pagerduty_rate_limit_per_minute: int = 960,
    record_exchanges: bool = False,
    request_log_limit: int = REQUEST_LOG_LIMIT,
) -> web.Application:
    """A ready aiohttp app: Slack under /api/, PagerDuty under /pagerduty, control under /_sandbox/."""
    if slack_plan is not None and slack_plan not in ("free", "pro", "business_plus", "enterprise"):
        raise ValueError(f"unknown Slack plan {slack_plan!r}")
    plan: SlackPlan | None = slack_plan  # type: ignore[assignment]
    clock = Clock(start_time or seed.start_time, time_scale)
    state = SandboxState(seed, clock, slack_plan=plan)
    app = web.Application(middlewares=[middleware.observe], client_max_size=16 * 1024 * 1024)
    app[SANDBOX] = Sandbox(
        state,
        pagerduty_rate_limit_per_minute=pagerduty_rate_limit_per_minute,
        record_exchanges=record_exchanges,
        request_log_limit=request_log_limit,
    )
    app.add_routes(
        slack_api.routes() + pagerduty_api.routes() + control_api.routes() + control_state.routes()
    )
    return app


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def banner(host: str, port: int, tls_port: int | None = None, ca_file: Path | None = None) -> str:
    url = f"http://{host}:{port}"
    line = f"sandbox listening on {url} (slack: {url}/api/, pagerduty: {url}/pagerduty)"
    if tls_port is not None:
        # The pagerduty SDK only accepts https:// base URLs.
        line += f"; https: https://{host}:{tls_port}/pagerduty (ca: {ca_file})"
    return line


async def serve(
    host: str = "127.0.0.1",
    port: int = 8099,
    *,
    seed: SandboxSeed | None = None,
    tls_port: int | None = 0,
    tls_dir: Path | None = None,
    **kw: Any,
) -> None:
    """Run until cancelled; prints the banner line with the real port(s) once listening.

    `tls_port` None serves no HTTPS; 0 picks a free port."""
    app = create_app(seed or load_seed(DEFAULT_SEED_PATH), **kw)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    sock = _bind(host, port)
    await web.SockSite(runner, sock).start()
    real_tls_port: int | None = None
    files: TlsFiles | None = None
    if tls_port is not None:
        files = generate(tls_dir)
        tls_sock = _bind(host, tls_port)
        await web.SockSite(runner, tls_sock, ssl_context=files.server_context()).start()
        real_tls_port = tls_sock.getsockname()[1]
    print(banner(host, sock.getsockname()[1], real_tls_port, files.ca_file if files else None), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncall-sandbox", description="Slack + PagerDuty emulator")
    parser.add_argument(
        "--seed",
        type=Path,
        default=DEFAULT_SEED_PATH,
        help="seed YAML (default: the packaged demo seed, examples/sandbox-seed.yaml)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099, help="0 picks a free port")
    parser.add_argument("--tls-port", type=int, default=0, help="HTTPS port (0: a free one; -1: no HTTPS)")
    parser.add_argument("--tls-dir", type=Path, default=None, help="where to write ca.pem and the server key")
    parser.add_argument("--time-scale", type=float, default=1.0, help="sandbox seconds per real second")
    parser.add_argument(
        "--start-time", type=datetime.fromisoformat, default=None, help="ISO time the clock starts at"
    )
    parser.add_argument("--slack-plan", choices=("free", "pro", "enterprise"), default=None)
    parser.add_argument("--pagerduty-rate-limit", type=int, default=960, help="requests per minute")
    parser.add_argument(
        "--record-exchanges", action="store_true", help="keep raw exchanges for contract checks"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log one line per request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    if args.start_time is not None and args.start_time.tzinfo is None:
        print("--start-time needs a UTC offset", file=sys.stderr)
        return 2
    try:
        seed = load_seed(args.seed)
    except SeedError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        asyncio.run(
            serve(
                args.host,
                args.port,
                seed=seed,
                tls_port=None if args.tls_port < 0 else args.tls_port,
                tls_dir=args.tls_dir,
                time_scale=args.time_scale,
                start_time=args.start_time,
                slack_plan=args.slack_plan,
                pagerduty_rate_limit_per_minute=args.pagerduty_rate_limit,
                record_exchanges=args.record_exchanges,
            )
        )
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


class SandboxServer:
    """The sandbox on 127.0.0.1 and a free port, in a background thread; a (async) context manager.

    `seed` is a SandboxSeed, a path, or None for examples/sandbox-seed.yaml; other keyword
    arguments go to `create_app`.
    """

    def __init__(
        self, seed: SandboxSeed | str | Path | None = None, *, tls: bool = True, **app_kwargs: Any
    ) -> None:
        self._seed = seed
        self._tls = tls
        self.tls: TlsFiles | None = None
        self.tls_port = 0
        self._app_kwargs = app_kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def slack_url(self) -> str:
        return self.url + "/api/"

    @property
    def https_url(self) -> str:
        if not self.tls_port:
            raise RuntimeError("this SandboxServer runs without TLS")
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def pagerduty_url(self) -> str:
        """HTTPS, since the pagerduty SDK refuses http:// base URLs; trust `ca_file`."""
        return self.https_url + "/pagerduty" if self.tls_port else self.url + "/pagerduty"

    @property
    def pagerduty_http_url(self) -> str:
        return self.url + "/pagerduty"

    @property
    def ca_file(self) -> Path:
        if self.tls is None:
            raise RuntimeError("this SandboxServer runs without TLS")
        return self.tls.ca_file

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the sandbox's CA."""
        if self.tls is None:
            raise RuntimeError("this SandboxServer runs without TLS")
        return self.tls.client_context()

    def pagerduty_client(self, token: str = "pd-sandbox-token") -> Any:
        """The real `pagerduty.RestApiV2Client`, pointed at the sandbox and trusting its CA."""
        import pagerduty

        client = pagerduty.RestApiV2Client(token, verify=self.ssl_context())
        client.url = self.pagerduty_url
        return client

    def operator_env(self) -> dict[str, str]:
        """Environment pointing an operator process at this sandbox: APIs, CA and clock."""
        return {
            "ONCALL_SLACK_URL": self.slack_url,
            "ONCALL_PAGERDUTY_URL": self.pagerduty_url,
            "ONCALL_PAGERDUTY_CA_FILE": str(self.ca_file),
            "ONCALL_CLOCK_URL": self.url,
        }

    @property
    def control(self) -> SandboxControl:
        return SandboxControl(self.url)

    @property
    def sandbox(self) -> Sandbox:
        """In-process access to state (read it from tests only while the server is idle)."""
        assert self.app is not None, "server not started"
        return self.app[SANDBOX]

    def start(self) -> SandboxServer:
        seed = (
            self._seed if isinstance(self._seed, SandboxSeed) else load_seed(self._seed or DEFAULT_SEED_PATH)
        )
        self.app = create_app(seed, **self._app_kwargs)
        sock = _bind("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        tls_sock: socket.socket | None = None
        if self._tls:
            self.tls = generate()
            tls_sock = _bind("127.0.0.1", 0)
            self.tls_port = tls_sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        async def setup() -> None:
            assert self.app is not None
            self._runner = web.AppRunner(
                self.app, handle_signals=False, access_log=None, shutdown_timeout=0.5
            )
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
            if tls_sock is not None and self.tls is not None:
                await web.SockSite(self._runner, tls_sock, ssl_context=self.tls.server_context()).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(setup())
            except BaseException as error:  # reported to the starting thread
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="sandbox-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = None
        if self.tls is not None:
            shutil.rmtree(self.tls.directory, ignore_errors=True)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SandboxServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)
