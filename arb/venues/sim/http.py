"""A minimal HTTP/1.1 server on asyncio streams, for the simulated venues' REST APIs on loopback.

Just enough of RFC 9112 for httpx and other ordinary clients:
- request line `METHOD target HTTP/1.x` (origin form `/path?query`, or absolute form), header
  lines `name: value` (names case-insensitive, kept lower-case; repeated headers joined by ", "),
  then a body of exactly `Content-Length` bytes. Chunked (any `Transfer-Encoding`) bodies are
  refused with 411, since this server never needs them and cannot skip them safely.
- persistent connections: HTTP/1.1 keeps the connection open unless the request says
  `Connection: close`; HTTP/1.0 closes unless it says `keep-alive`. httpx reuses connections, so
  several requests arrive on one socket in sequence.
- the path is percent-decoded (`urllib.parse.unquote`, strict UTF-8) and the query parsed with
  `parse_qsl` (blank values kept). `HttpRequest.target` keeps the target exactly as sent (Kalshi signs
  the undecoded path).

Failures never stop the server: a malformed request gets 400 (then the connection closes, since the
stream position is unknown), a handler raising `arb.errors.WireError` (bad input, e.g. a `FieldError`
from the matching engine) gets 400 with the message, any other handler exception gets 500 and is
kept in `handler_errors` for tests to inspect.

`latency_s` (or an attached `FaultInjector`'s) is awaited through the injected `sleep` before each
answer; an attached injector can also answer 429/500 before the handler runs, and after it ran
(the request took effect) replace the answer with a 500, never answer, or hold the answer.

`partition()` makes the server unreachable until `heal()`: every open connection is aborted (no
answer, a reset), every new one is aborted as soon as it is accepted, a request still waiting out
its latency is never handled, and one already handled whose answer was held is never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from arb.errors import FieldError, WireError
from arb.venues.sim.faults import AnswerFault, FaultInjector

__all__ = ["Handler", "HttpRequest", "HttpResponse", "LoopbackHttpServer"]

_MAX_HEADERS = 100
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request. `path` is percent-decoded without the query; `query` maps each name to its
    last value (`query_values` gives all); `headers` has lower-case names."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    target: str = ""  # the request target exactly as sent (still percent-encoded)
    query_items: tuple[tuple[str, str], ...] = ()
    http_version: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        """The path as sent, without the query (what Kalshi's signature covers)."""
        return self.target.split("?", 1)[0]

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def query_values(self, name: str) -> list[str]:
        return [value for key, value in self.query_items if key == name]

    def json(self) -> Any:
        """The body as JSON; an undecodable body raises `FieldError` (answered with 400)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise FieldError("body", "is not valid JSON", self.body[:60]) from exc


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> HttpResponse:
        """`obj` serialised with orjson (dataclasses and enums included)."""
        return cls(status, orjson.dumps(obj), {"content-type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, headers: dict[str, str] | None = None) -> HttpResponse:
        return cls(status, text.encode(), {"content-type": "text/plain; charset=utf-8", **(headers or {})})


Handler = Callable[[HttpRequest], "Awaitable[HttpResponse] | HttpResponse"]
Sleep = Callable[[float], Awaitable[None]]


class _BadRequest(Exception):
    """The request cannot be parsed; answer `status` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LoopbackHttpServer:
    """`await start()`, use `base_url`, `await close()` (or `async with`).

    On TCP (the default) it listens on `host`:`port` (0: a free port). With `unix_path` it listens
    on that Unix-domain socket instead (replays use them: a write is readable at the peer when it
    returns), and `host` only names the server in `base_url` (`http://<host>`), so a client can
    tell several servers' sockets apart by URL."""

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        unix_path: str | os.PathLike[str] | None = None,
        latency_s: float | Callable[[], float] = 0.0,
        sleep: Sleep = asyncio.sleep,
        faults: FaultInjector | None = None,
        max_body_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._handler = handler
        self.host = host
        self._port = port
        self.unix_path = None if unix_path is None else os.fspath(unix_path)
        self._latency_s = latency_s
        self._sleep = sleep
        self.faults = faults
        self.max_body_bytes = max_body_bytes
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._writers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.partitioned = False
        self.connections_accepted = 0
        self.connections_refused = 0  # accepted and aborted at once during a partition
        self.requests_served = 0
        self.handler_errors: list[BaseException] = []

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            return
        self._closing = False
        if self.unix_path is not None:
            self._server = await asyncio.start_unix_server(self._serve, path=self.unix_path)
            return
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        if self.unix_path is not None:
            raise RuntimeError(f"server listens on the Unix socket {self.unix_path}, not a port")
        return self._port

    @property
    def base_url(self) -> str:
        if self.unix_path is not None:
            if self._server is None:
                raise RuntimeError("server not started")
            return f"http://{self.host}"
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        """Stop listening and end every open connection (idle or busy)."""
        if self._server is None:
            return
        self._closing = True
        self._server.close()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> LoopbackHttpServer:
        await self.start()
        return self

    def partition(self) -> None:
        """Unreachable from now until `heal()`: open connections are aborted, new ones refused."""
        self.partitioned = True
        for writer in list(self._writers.values()):
            writer.transport.abort()

    def heal(self) -> None:
        self.partitioned = False

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- connections ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self.partitioned:
            self.connections_refused += 1
            writer.transport.abort()
            return
        self._tasks.add(task)
        self._writers[task] = writer
        self.connections_accepted += 1
        try:
            while not self._closing:
                try:
                    parsed = await self._read_request(reader)
                except _BadRequest as bad:
                    await self._write(writer, HttpResponse.text(bad.status, str(bad)), keep_alive=False, head=False)
                    break
                if parsed is None:
                    break
                request, keep_alive = parsed
                response = await self._respond(request)
                self.requests_served += 1
                await self._write(writer, response, keep_alive=keep_alive, head=request.method == "HEAD")
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request or mid-answer
        except asyncio.CancelledError:
            # close() (or loop shutdown) ended this connection. The task is asyncio's own
            # client_connected_cb task, whose done-callback reports a cancelled task as an error,
            # so it ends normally; nothing else awaits it.
            pass
        finally:
            self._tasks.discard(task)
            self._writers.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[HttpRequest, bool] | None:
        """The next request and whether to keep the connection, or None at a clean end of stream."""
        line = b""
        for _ in range(4):  # tolerate stray empty lines between requests (RFC 9112 section 2.2)
            read = await self._read_line(reader, at_start=True)
            if read is None:
                return None
            line = read
            if line:
                break
        parts = line.split(b" ")
        if len(parts) != 3:
            raise _BadRequest(400, "malformed request line")
        method_b, target_b, version_b = parts
        if not method_b.isalpha() or not method_b.isupper():
            raise _BadRequest(400, "malformed method")
        if version_b not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise _BadRequest(505 if version_b.startswith(b"HTTP/") else 400, "unsupported HTTP version")
        try:
            target = target_b.decode("ascii")
        except UnicodeDecodeError:
            raise _BadRequest(400, "request target is not ASCII") from None
        if not (target.startswith(("/", "http://", "https://"))):
            raise _BadRequest(400, "request target must be a path")

        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            header_line = await self._read_line(reader, at_start=False)
            if not header_line:
                break
            name_b, colon, value_b = header_line.partition(b":")
            if not colon or not name_b or name_b != name_b.strip() or b" " in name_b or b"\t" in name_b:
                raise _BadRequest(400, "malformed header line")
            name = name_b.decode("latin-1").lower()
            value = value_b.strip(b" \t").decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        else:
            raise _BadRequest(431, "too many header lines")

        if "transfer-encoding" in headers:
            raise _BadRequest(411, "chunked or encoded bodies are not supported; send Content-Length")
        body = b""
        length_text = headers.get("content-length")
        if length_text is not None:
            values = {v.strip() for v in length_text.split(",")}
            if len(values) != 1 or not (length := values.pop()).isdigit():
                raise _BadRequest(400, "malformed Content-Length")
            size = int(length)
            if size > self.max_body_bytes:
                raise _BadRequest(413, "body too large")
            if size:
                body = await reader.readexactly(size)

        try:
            split = urlsplit(target)
            path = unquote(split.path or "/", errors="strict")
            query_items = tuple(parse_qsl(split.query, keep_blank_values=True, errors="strict"))
        except (UnicodeDecodeError, ValueError):
            raise _BadRequest(400, "malformed percent-encoding in the request target") from None
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        version = version_b.decode()
        keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
        request = HttpRequest(method_b.decode(), path, dict(query_items), headers, body, target, query_items, version)
        return request, keep_alive

    @staticmethod
    async def _read_line(reader: asyncio.StreamReader, *, at_start: bool) -> bytes | None:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if at_start and not exc.partial:
                return None
            raise
        except asyncio.LimitOverrunError:
            raise _BadRequest(431 if not at_start else 414, "line too long") from None
        return line.rstrip(b"\r\n") if line.endswith(b"\r\n") else line[:-1]

    async def _respond(self, request: HttpRequest) -> HttpResponse:
        delay = self._latency_s() if callable(self._latency_s) else self._latency_s
        if self.faults is not None:
            delay += self.faults.latency_s
        if delay > 0:
            await self._sleep(delay)
        if self.partitioned:  # cut off while the request was on its way: it never arrived
            raise ConnectionResetError("partitioned")
        if self.faults is not None:
            status = self.faults.http_status(request.path)
            if status is not None:
                headers = {}
                retry_after = self.faults.plan.http_429_retry_after_s
                if status == 429 and retry_after is not None:
                    headers["retry-after"] = f"{retry_after:g}"
                return HttpResponse.json(status, {"error": HTTPStatus(status).phrase, "injected": True}, headers)
        try:
            # object, not the declared type: a handler may break its contract, and the server outlives it
            result: object = self._handler(request)
            if inspect.isawaitable(result):
                result = await result
        except WireError as exc:
            return HttpResponse.json(400, {"error": str(exc), "field": exc.field})
        except Exception as exc:  # noqa: BLE001 - the server outlives any handler bug; tests read handler_errors
            self.handler_errors.append(exc)
            return HttpResponse.json(500, {"error": "internal error"})
        if not isinstance(result, HttpResponse):
            self.handler_errors.append(TypeError(f"handler returned {type(result).__name__}, not HttpResponse"))
            return HttpResponse.json(500, {"error": "internal error"})
        if self.faults is not None:
            lost = self.faults.answer_fault(request.method, request.path)
            if lost is AnswerFault.ANSWER_500:
                return HttpResponse.json(500, {"error": "internal error", "injected": True})
            if lost is AnswerFault.NO_ANSWER:
                await asyncio.Event().wait()  # taken, never answered: until close() ends the connection
            hold = self.faults.answer_delay_s(request.path)
            if hold > 0:
                await self._sleep(hold)  # computed now, delivered late: the answer is old on arrival
        if self.partitioned:  # processed, but the answer cannot get through any more
            raise ConnectionResetError("partitioned")
        return result

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, response: HttpResponse, *, keep_alive: bool, head: bool) -> None:
        status = response.status
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines.extend(
            f"{name}: {value}"
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "connection")
        )
        body = response.body
        if status in _NO_BODY_STATUSES or status < 200:
            body = b""
        else:
            lines.append(f"content-length: {len(body)}")
            if head:
                body = b""
        lines.append("connection: keep-alive" if keep_alive else "connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
