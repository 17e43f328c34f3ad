"""`VirtualTimeLoop`: virtual time that jumps to the next timer, worker-thread calls inline, and
real Unix sockets that deliver at once."""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from arb.replay.clock import VirtualLoopStalled, VirtualTimeLoop, current_clock, run_virtual

START_WALL_MS = 1_733_500_000_000


def test_hours_of_sleep_take_no_real_time() -> None:
    async def main() -> tuple[int, int, float]:
        clock = current_clock()
        t0, w0 = clock.monotonic_ns(), clock.wall_ms()
        await asyncio.sleep(3 * 3600)
        await asyncio.sleep(0.25)
        return clock.monotonic_ns() - t0, clock.wall_ms() - w0, asyncio.get_running_loop().time()

    started = time.monotonic()
    elapsed_ns, elapsed_ms, loop_time = run_virtual(main, start_wall_ms=START_WALL_MS)
    assert time.monotonic() - started < 2.0  # a real sleep would take three hours
    assert abs(elapsed_ns - (3 * 3600 + 0.25) * 1e9) <= 10  # the jump is exact to the nanosecond
    assert elapsed_ms == 3 * 3600 * 1000 + 250
    assert loop_time > 3 * 3600


def test_wall_clock_starts_at_the_given_time() -> None:
    async def main() -> int:
        return current_clock().wall_ms()

    assert run_virtual(main, start_wall_ms=START_WALL_MS) == START_WALL_MS


def test_timers_fire_in_time_order_at_their_virtual_times() -> None:
    async def main() -> list[tuple[str, int]]:
        clock = current_clock()
        t0 = clock.monotonic_ns()
        fired: list[tuple[str, int]] = []

        async def sleeper(name: str, delay_s: float) -> None:
            await asyncio.sleep(delay_s)
            fired.append((name, round((clock.monotonic_ns() - t0) / 1e6)))

        loop = asyncio.get_running_loop()
        loop.call_later(2.5, lambda: fired.append(("call_later", round((clock.monotonic_ns() - t0) / 1e6))))
        await asyncio.gather(sleeper("c", 30.0), sleeper("a", 0.001), sleeper("b", 7.0), sleeper("d", 3600.0))
        return fired

    assert run_virtual(main, start_wall_ms=0) == [
        ("a", 1),
        ("call_later", 2500),
        ("b", 7000),
        ("c", 30000),
        ("d", 3_600_000),
    ]


def test_timeouts_expire_on_virtual_time() -> None:
    async def main() -> int:
        clock = current_clock()
        t0 = clock.monotonic_ns()
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(600):
                await never
        return clock.monotonic_ns() - t0

    assert abs(run_virtual(main, start_wall_ms=0) - 600 * 10**9) <= 10


def test_to_thread_runs_inline_without_a_thread() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")

    def work(x: int) -> tuple[int, int, str]:
        return x * 2, threading.get_ident(), marker.get()

    def fails() -> None:
        raise KeyError("inside")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        marker.set("from the caller")
        before_threads = threading.active_count()
        t0 = current_clock().monotonic_ns()
        doubled, ident, seen = await asyncio.to_thread(work, 21)
        assert (doubled, ident, seen) == (42, threading.get_ident(), "from the caller")
        assert await loop.run_in_executor(None, work, 1) == (2, threading.get_ident(), "unset")
        with pytest.raises(KeyError, match="inside"):
            await asyncio.to_thread(fails)
        assert threading.active_count() == before_threads  # no worker thread was ever started
        assert loop.inline_calls == 3
        assert current_clock().monotonic_ns() == t0  # the work took no virtual time

    run_virtual(main, start_wall_ms=0)


def test_a_socketpair_round_trip_delivers_at_once_while_time_jumps() -> None:
    async def main() -> list[tuple[str, int]]:
        clock = current_clock()
        t0 = clock.monotonic_ns()
        left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log: list[tuple[str, int]] = []

        def now_ms() -> int:
            return (clock.monotonic_ns() - t0) // 1_000_000

        async def echo() -> None:
            reader, writer = await asyncio.open_unix_connection(sock=right)
            while line := await reader.readline():
                log.append(("echo got " + line.decode().strip(), now_ms()))
                await asyncio.sleep(5.0)  # thinks for five virtual seconds
                writer.write(line.upper())
                await writer.drain()
            writer.close()

        server = asyncio.create_task(echo())
        reader, writer = await asyncio.open_unix_connection(sock=left)
        for word in ("one", "two"):
            writer.write(f"{word}\n".encode())
            await writer.drain()
            answer = await reader.readline()
            log.append(("client got " + answer.decode().strip(), now_ms()))
        writer.close()
        await server
        return log

    started = time.monotonic()
    assert run_virtual(main, start_wall_ms=0) == [
        ("echo got one", 0),
        ("client got ONE", 5000),
        ("echo got two", 5000),
        ("client got TWO", 10000),
    ]
    assert time.monotonic() - started < 2.0


def test_a_unix_socket_server_answers(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"

    async def main() -> bytes:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.readexactly(5)
            await asyncio.sleep(60)
            writer.write(data[::-1])
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(handle, path=os.fspath(path))
        async with server:
            reader, writer = await asyncio.open_unix_connection(os.fspath(path))
            writer.write(b"hello")
            answer = await reader.read()
            writer.close()
            return answer

    assert run_virtual(main, start_wall_ms=0) == b"olleh"


def test_waiting_for_what_never_comes_is_reported() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()  # no timer, no socket: nothing can set it

    with pytest.raises(VirtualLoopStalled, match="stalled"):
        run_virtual(main, start_wall_ms=0, stall_timeout_s=0.05)


def test_the_clock_is_only_on_a_virtual_loop() -> None:
    async def main() -> None:
        current_clock()

    with pytest.raises(RuntimeError, match="VirtualTimeLoop"):
        asyncio.run(main())


def test_sockets_ready_together_are_handled_in_registration_order() -> None:
    """The kernel reports ready descriptors in the order they became ready; the loop handles them
    in the order they were registered, so the program alone decides."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(3)]
        heard: list[str] = []
        done = asyncio.Event()
        for name, (reader, _writer) in zip("abc", pairs, strict=True):
            reader.setblocking(False)

            def on_readable(name: str = name, sock: socket.socket = reader) -> None:
                sock.recv(16)
                heard.append(name)
                if len(heard) == 3:
                    done.set()

            loop.add_reader(reader.fileno(), on_readable)
        for _reader, writer in reversed(pairs):  # c, b, a become readable in that order
            writer.send(b"x")
        await done.wait()
        for reader, writer in pairs:
            loop.remove_reader(reader.fileno())
            reader.close()
            writer.close()
        return heard

    assert run_virtual(main, start_wall_ms=0) == ["a", "b", "c"]
