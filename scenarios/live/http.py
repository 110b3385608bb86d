"""The live twin's HTTP side: health, readiness, Prometheus metrics, state JSON, operator commands and the page.

A Starlette app (:func:`create_app`) served by uvicorn in a background thread (:class:`LiveHttpServer`), on
127.0.0.1 by default and on a configurable port (0: a free one, reported by ``server.port``)::

    board = LiveBoard()
    server = LiveHttpServer(board, port=0, policy=CommandPolicy.from_config(cfg), on_command=service.command)
    server.start()          # returns once it listens
    print(server.url)       # http://127.0.0.1:43121
    ...
    server.stop()           # closes the connections and joins the thread

=======================  ========================================================================================
endpoint                 answer
=======================  ========================================================================================
``GET /healthz``         200 ``{"alive": true}`` while the process serves
``GET /readyz``          200 ``{"ready": true, "reason": ...}`` when the source is connected and the lag is below
                         the board's bound, else 503 with the reason
``GET /metrics``         the board's registry in the Prometheus text format
``GET /api/state``       :meth:`LiveBoard.snapshot` as JSON (``?points=N``: the last N points of each history)
``GET /api/events``      server-sent events: ``event: state`` with the snapshot without histories, every
                         ``events_interval_s`` seconds
``POST /api/command``    an operator command ``{"verb": "ack", "user": ..., ...}`` (fields: see
                         :func:`scenarios.live.board.parse_command`; a token may also come as
                         ``Authorization: Bearer <token>``).  200 with the result when carried out; 400
                         malformed, 403 unauthorised or forbidden (advisory setpoint, outside the envelope),
                         409 rejected, 500 failed - always with ``reason``.  Refusals are logged.
``GET /``                the live page (``scenarios/live/page/``: plain HTML + JS drawing SVG, no CDN)
=======================  ========================================================================================
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sim.exceptions import ConfigurationError, TwinbenchError
from scenarios.live.board import Command, CommandPolicy, LiveBoard, jsonable, run_command

__all__ = ["PAGE_DIR", "LiveHttpServer", "create_app"]

#: The page's static files.
PAGE_DIR = Path(__file__).with_name("page")

_MAX_BODY = 65536


def create_app(board: LiveBoard, *, policy: CommandPolicy | None = None,
               on_command: Callable[[Command], Any] | None = None, logger: logging.Logger | None = None,
               events_interval_s: float = 1.0, stopping: threading.Event | None = None):
    """The Starlette app of one board (see the module docstring for the endpoints).

    Parameters
    ----------
    board : LiveBoard
        What the endpoints read.
    policy : CommandPolicy, optional
        Who may command what (default: nobody - every command is unauthorised).
    on_command : callable, optional
        The service's callback ``on_command(command) -> JSON-able result``; it runs in a worker thread.  Without
        it, ``ack``/``shelve`` act on the board and other verbs are rejected.
    logger : logging.Logger, optional
        Where command outcomes are logged (see :mod:`scenarios.live.logs`).
    events_interval_s : float
        Period of the server-sent events [s].
    stopping : threading.Event, optional
        Set when the server stops: open event streams end.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    policy = policy if policy is not None else CommandPolicy()
    stopping = stopping if stopping is not None else threading.Event()
    nocache = {"Cache-Control": "no-store"}

    async def healthz(request: Request):
        return JSONResponse({"alive": True}, headers=nocache)

    async def readyz(request: Request):
        ready, reason = board.readiness()
        return JSONResponse({"ready": ready, "reason": reason}, status_code=200 if ready else 503, headers=nocache)

    async def metrics(request: Request):
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(board.metrics_text(), media_type=CONTENT_TYPE_LATEST, headers=nocache)

    async def state(request: Request):
        points = request.query_params.get("points")
        if points is not None:
            try:
                points = int(points)
                if points < 0:
                    raise ValueError
            except ValueError:
                return JSONResponse({"error": f"points={request.query_params['points']!r} must be a non-negative "
                                              f"integer; fix: e.g. /api/state?points=300"}, status_code=400)
        return JSONResponse(board.snapshot(points), headers=nocache)

    async def events(request: Request):
        async def stream():
            while not stopping.is_set():
                data = json.dumps(board.snapshot(0), allow_nan=False, separators=(",", ":"))
                yield f"event: state\ndata: {data}\n\n"
                for _ in range(max(1, int(events_interval_s / 0.05))):
                    if stopping.is_set() or await request.is_disconnected():
                        return
                    await asyncio.sleep(min(0.05, events_interval_s))

        return StreamingResponse(stream(), media_type="text/event-stream", headers=nocache)

    async def command(request: Request):
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_BODY:  # (read no further: a huge body must not fill the memory)
                body = body[:_MAX_BODY + 1]
                break
        verb, payload = None, body
        if len(body) <= _MAX_BODY:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                verb, payload = data.get("verb"), {k: v for k, v in data.items() if k != "verb"}
                auth = request.headers.get("authorization", "")
                if auth.lower().startswith("bearer ") and "token" not in payload:
                    payload["token"] = auth[7:].strip()
        result = await run_in_threadpool(run_command, verb, payload, policy=policy, handler=on_command,
                                         board=board, logger=logger, via="http")
        return JSONResponse(jsonable(result), status_code=result["status"], headers=nocache)

    async def page(request: Request):
        return FileResponse(PAGE_DIR / "index.html", headers=nocache)

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics),
              Route("/api/state", state), Route("/api/events", events),
              Route("/api/command", command, methods=["POST"]), Route("/", page),
              Mount("/static", StaticFiles(directory=PAGE_DIR), name="static")]
    return Starlette(routes=routes)


class LiveHttpServer:
    """Serve :func:`create_app` with uvicorn in a background thread.

    Parameters
    ----------
    board : LiveBoard
        The board the endpoints read.
    host : str
        Interface to listen on (default 127.0.0.1: put a reverse proxy with TLS in front for a plant network).
    port : int
        Port (0: a free one; read it from :attr:`port` after :meth:`start`).
    policy, on_command, logger, events_interval_s
        See :func:`create_app`.
    """

    def __init__(self, board: LiveBoard, *, host: str = "127.0.0.1", port: int = 0,
                 policy: CommandPolicy | None = None, on_command: Callable[[Command], Any] | None = None,
                 logger: logging.Logger | None = None, events_interval_s: float = 1.0):
        if not (isinstance(port, int) and 0 <= port <= 65535):
            raise ConfigurationError(f"http port {port!r} must be an integer in [0, 65535] (0: any free port); "
                                     f"fix: e.g. port: 8080")
        if not events_interval_s > 0:
            raise ConfigurationError(f"events_interval_s ({events_interval_s}) must be > 0 s; fix: e.g. 1.0")
        self.board, self.host, self.requested_port = board, host, port
        self.policy, self.on_command, self.logger = policy, on_command, logger
        self.events_interval_s = float(events_interval_s)
        self.port: int | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @classmethod
    def from_config(cls, board: LiveBoard, config: Mapping[str, Any] | None, *, policy: CommandPolicy | None = None,
                    on_command=None, logger=None) -> LiveHttpServer:
        """From a plain mapping ``{host: 127.0.0.1, port: 8080, events_interval_s: 1.0}`` (all optional; an
        ``enabled`` key is the caller's switch and is ignored here)."""
        config = dict(config or {})
        config.pop("enabled", None)
        unknown = sorted(set(config) - {"host", "port", "events_interval_s"})
        if unknown:
            raise ConfigurationError(f"http config: unknown key(s) {unknown}; fix: use host, port, events_interval_s")
        return cls(board, host=config.get("host", "127.0.0.1"), port=int(config.get("port", 0)), policy=policy,
                   on_command=on_command, logger=logger, events_interval_s=float(config.get("events_interval_s", 1.0)))

    @property
    def url(self) -> str:
        if self.port is None:
            raise TwinbenchError("the HTTP server is not started; fix: call start() first")
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LiveHttpServer:
        """Bind, serve in a daemon thread and return once uvicorn accepts connections."""
        import uvicorn

        if self._thread is not None:
            raise TwinbenchError("the HTTP server is already started; fix: stop() it before starting it again")
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as err:
            sock.close()
            raise ConfigurationError(f"http: cannot listen on {self.host}:{self.requested_port} ({err.strerror}); "
                                     f"fix: choose another port (0: any free one)") from None
        self.port = sock.getsockname()[1]
        self._stopping.clear()
        app = create_app(self.board, policy=self.policy, on_command=self.on_command, logger=self.logger,
                         events_interval_s=self.events_interval_s, stopping=self._stopping)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"twinbench-http-{self.port}", daemon=True)
        self._sock = sock
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started or not self._thread.is_alive():
                break
            deadline.wait(0.01)
        if not self._server.started:
            self.stop()
            raise TwinbenchError(f"http: uvicorn did not start on {self.host}:{self.port} within {timeout} s; "
                                 f"fix: see the uvicorn.error log")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving: end event streams, close connections and join the thread."""
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()
            self._sock = None
        self._server, self._thread = None, None

    def __enter__(self) -> LiveHttpServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
