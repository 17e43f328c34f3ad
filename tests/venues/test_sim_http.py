"""The loopback HTTP/1.1 server of the simulated venues, exercised with httpx and raw sockets."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from arb.errors import FieldError
from arb.venues.sim.faults import FaultInjector, FaultPlan
from arb.venues.sim.http import HttpRequest, HttpResponse, LoopbackHttpServer


async def echo(request: HttpRequest) -> HttpResponse:
    if request.path == "/boom":
        raise RuntimeError("handler bug")
    if request.path == "/bad-field":
        raise FieldError("count", "must be positive", -1)
    if request.path == "/empty":
        return HttpResponse(204, b"ignored")
    return HttpResponse.json(
        200,
        {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "target": request.target,
            "query": request.query,
            "tickers": request.query_values("tickers"),
            "content_type": request.header("Content-Type"),
            "body": request.json() if request.body else None,
            "version": request.http_version,
        },
        headers={"x-served-by": "sim"},
    )


async def raw_exchange(server: LoopbackHttpServer, data: bytes) -> bytes:
    """Send bytes, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.asyncio
async def test_get_with_percent_encoded_path_and_query() -> None:
    async with LoopbackHttpServer(echo) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        assert server.base_url == f"http://127.0.0.1:{server.port}" and server.port > 0
        response = await client.get(
            "/markets/a%20b", params=[("status", "open now"), ("tickers", "A"), ("tickers", "B%C")]
        )
        assert response.status_code == 200
        assert response.headers["x-served-by"] == "sim" and response.headers["content-type"] == "application/json"
        got = response.json()
        assert got["method"] == "GET"
        assert got["path"] == "/markets/a b" and got["raw_path"] == "/markets/a%20b"
        assert got["target"].startswith("/markets/a%20b?")
        assert got["query"] == {"status": "open now", "tickers": "B%C"}  # last value wins
        assert got["tickers"] == ["A", "B%C"]
        assert got["body"] is None and got["version"] == "HTTP/1.1"


@pytest.mark.asyncio
async def test_post_json_body_and_keep_alive_reuses_one_connection() -> None:
    async with LoopbackHttpServer(echo) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        for i in range(3):
            response = await client.post("/orders", json={"price": "0.42", "n": i, "nested": {"ok": True}})
            assert response.status_code == 200
            got = response.json()
            assert got["method"] == "POST" and got["content_type"] == "application/json"
            assert got["body"] == {"price": "0.42", "n": i, "nested": {"ok": True}}
        assert (server.connections_accepted, server.requests_served) == (1, 3)


@pytest.mark.asyncio
async def test_connection_close_is_honoured_and_http10_closes_by_default() -> None:
    async with LoopbackHttpServer(echo) as server:
        reply = await raw_exchange(server, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" in head
        assert orjson.loads(body)["path"] == "/x"
        reply = await raw_exchange(server, b"GET /y HTTP/1.0\r\n\r\n")
        assert (
            reply.startswith(b"HTTP/1.1 200 OK\r\n")
            and orjson.loads(reply.partition(b"\r\n\r\n")[2])["version"] == "HTTP/1.0"
        )


@pytest.mark.asyncio
async def test_two_pipelined_requests_on_one_raw_connection() -> None:
    async with LoopbackHttpServer(echo) as server:
        body = b'{"a": 1}'
        reply = await raw_exchange(
            server,
            b"POST /one HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            + b"GET /two HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        assert reply.count(b"HTTP/1.1 200 OK") == 2
        assert b'"/one"' in reply and b'"/two"' in reply and b'{"a":1}' in reply
        assert server.connections_accepted == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /x HTTP/1.1 extra\r\n\r\n", 400),
        (b"get /x HTTP/1.1\r\n\r\n", 400),
        (b"GET x HTTP/1.1\r\n\r\n", 400),
        (b"GET /x HTTP/2.0\r\n\r\n", 505),
        (b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 411),
        (b"GET /%ff HTTP/1.1\r\n\r\n", 400),
    ],
)
async def test_malformed_requests_get_an_error_and_the_server_keeps_serving(raw: bytes, status: int) -> None:
    async with LoopbackHttpServer(echo) as server:
        reply = await raw_exchange(server, raw)
        assert reply.startswith(b"HTTP/1.1 %d " % status)
        assert b"connection: close" in reply
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            assert (await client.get("/after")).json()["path"] == "/after"
        assert server.handler_errors == []


@pytest.mark.asyncio
async def test_oversized_body_and_truncated_body() -> None:
    async with LoopbackHttpServer(echo, max_body_bytes=10) as server:
        reply = await raw_exchange(server, b"POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 413 ")
        # The client promises 5 bytes, sends 2 and closes: no answer, no crash.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            assert (await client.get("/still")).status_code == 200


@pytest.mark.asyncio
async def test_handler_errors_become_500_or_400_without_stopping_the_server() -> None:
    async with LoopbackHttpServer(echo) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/boom")
        assert response.status_code == 500 and response.json() == {"error": "internal error"}
        assert [type(e) for e in server.handler_errors] == [RuntimeError]
        response = await client.get("/bad-field")
        assert response.status_code == 400 and response.json()["field"] == "count"
        response = await client.post("/x", content=b"{not json", headers={"content-type": "application/json"})
        assert response.status_code == 400 and response.json()["field"] == "body"
        assert (await client.get("/ok")).status_code == 200
        assert server.connections_accepted == 1  # errors did not cost the connection
        assert len(server.handler_errors) == 1


@pytest.mark.asyncio
async def test_no_body_statuses_head_and_sync_handlers() -> None:
    def sync_handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse.text(200, f"hello {request.method}")

    async with LoopbackHttpServer(echo) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/empty")
        assert response.status_code == 204 and response.content == b"" and "content-length" not in response.headers
        head = await client.head("/x")
        assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
        assert (await client.get("/after-head")).json()["path"] == "/after-head"  # stream still in step
    async with LoopbackHttpServer(sync_handler) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.delete("/x")
        assert response.text == "hello DELETE" and response.headers["content-type"].startswith("text/plain")


@pytest.mark.asyncio
async def test_latency_goes_through_the_injected_sleep_and_faults_answer_first() -> None:
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    faults = FaultInjector(FaultPlan(latency_s=0.25, http_429_retry_after_s=2.0))
    faults.fail_next_http(429)
    faults.fail_next_http(500)
    async with (
        LoopbackHttpServer(echo, latency_s=0.5, sleep=record_sleep, faults=faults) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        limited = await client.get("/orders")
        failed = await client.get("/orders")
        served = await client.get("/orders")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.json()["injected"] is True
    assert failed.status_code == 500 and "retry-after" not in failed.headers
    assert served.status_code == 200
    assert slept == [0.75, 0.75, 0.75]
    assert server.handler_errors == []


@pytest.mark.asyncio
async def test_close_ends_idle_and_busy_connections_cleanly() -> None:
    entered = asyncio.Event()

    async def slow(request: HttpRequest) -> HttpResponse:
        if request.path == "/hang":
            entered.set()
            await asyncio.Event().wait()  # never answers
        return HttpResponse.json(200, {})

    server = LoopbackHttpServer(slow)
    await server.start()
    port = server.port
    client = httpx.AsyncClient(base_url=server.base_url)
    assert (await client.get("/idle")).status_code == 200  # leaves an idle keep-alive connection
    hang_client = httpx.AsyncClient(base_url=server.base_url)
    hanging = asyncio.create_task(hang_client.get("/hang"))
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(server.close(), 5)
    with pytest.raises(httpx.HTTPError):
        await asyncio.wait_for(hanging, 5)  # the busy connection was closed under it
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    await server.close()  # idempotent
    await client.aclose()
    await hang_client.aclose()
    assert asyncio.all_tasks() == {asyncio.current_task()}
