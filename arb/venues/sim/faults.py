"""Seeded fault injection for the simulated venues.

A `FaultPlan` says which faults happen (frozen, validated); a `FaultInjector` makes the decisions a
venue server asks for, deterministically under `plan.seed`, and takes scripted faults at run time
("freeze this stream now", "drop the next frame").

Faults the servers ask about:
- HTTP: `http_status(path)` answers 429, 500 or None per request, drawn from `http_429_fraction` and
  `http_500_fraction` (only for paths starting with one of `http_fault_path_prefixes`, when given).
  `fail_next_http(status)` scripts the next answers.
- Socket frames: `frame_fault(stream, frame_index)` is asked before the server sends data frame
  number `frame_index` (0-based, counted by the server, normally per connection) on `stream` (a name
  the server chooses, e.g. "market" or "user"). It answers
  DROP_CONNECTION (close the socket instead of sending), FREEZE (send nothing, but keep answering
  pings: the silent-freeze failure), SEQUENCE_GAP (skip a Kalshi `seq` number) or HASH_MISMATCH
  (send a wrong Polymarket book `hash`), or None. Planned frame faults fire at their frame index at
  most `*_limit` times (drops, freezes) or once per listed index (gaps, hashes) per stream, so a
  client that reconnects is not faulted forever. A frozen stream stays frozen until `thaw(stream)`
  or `connection_opened(stream)` (a fresh connection is not frozen).
- Answers (asked by the HTTP server after the handler ran, so the request took effect):
  `answer_fault(method, path)` answers ANSWER_500 (replace the answer with a 500: processed, then
  failed) or NO_ANSWER (never answer: the connection hangs until the server closes), drawn from
  `answer_500_fraction` / `no_answer_fraction` for the methods and path prefixes the plan names, or
  scripted with `lose_next_answers(mode, count, path_prefix)`. `answer_delay_s(path)` holds an
  answer that is already computed (so it is old when it arrives): the slow `/book` answer, from
  `slow_answer_path_prefixes` / `slow_answer_s` or `slow_answers(prefixes, seconds)` at run time.
- Orders: `partial_fill_limit(size_micro, lot_micro, book_id)` (a cap for `MatchingEngine.submit`'s
  `fill_limit_micro`, drawn from `partial_fill_fraction`, or always on the books
  `partial_fills_on` names at run time), `ack_then_fill` and `fill_later_s`
  (Polymarket FAK answered "live", filled on a later trigger), `latency_s` (added per request/frame).

Each kind of decision draws from its own `random.Random` seeded from (`seed`, kind), so adding HTTP
traffic does not change which orders get partial fills.
"""

from __future__ import annotations

import enum
import random
from collections import Counter, deque
from dataclasses import dataclass

from arb.errors import ConfigError

__all__ = ["AnswerFault", "Fault", "FaultInjector", "FaultPlan"]

ANY_STREAM = "*"


class Fault(enum.Enum):
    DROP_CONNECTION = "drop_connection"
    FREEZE = "freeze"
    SEQUENCE_GAP = "sequence_gap"
    HASH_MISMATCH = "hash_mismatch"


class AnswerFault(enum.Enum):
    """What happens to an answer the venue has already computed (the request took effect)."""

    ANSWER_500 = "answer_500"  # processed, then answered 500
    NO_ANSWER = "no_answer"  # processed, never answered


def _check_prefixes(name: str, value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(p, str) and p.startswith("/") for p in value):
        raise ConfigError(f"fault plan {name} must be a tuple of '/...' paths, was {value!r}")


def _check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"fault plan {name} must be a fraction within [0, 1], was {value!r}")


def _check_count(name: str, value: int | None, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"fault plan {name} must be a count >= 0{' or None' if optional else ''}, was {value!r}")


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < float("inf"):
        raise ConfigError(f"fault plan {name} must be a finite number of seconds >= 0, was {value!r}")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Which faults a simulated venue injects. The default plan injects nothing.

    Frame faults (see the module docstring for what `frame_index` counts):
    - drop_connection_after_frames: close the socket when frame N would be sent (N frames went out),
      at most `drop_connection_limit` times per stream (None: on every connection).
    - freeze_after_frames: from frame N on, send nothing (pings are still answered), at most
      `freeze_limit` times per stream (None: on every connection).
    - sequence_gap_at_frames: frame indexes at which a Kalshi `seq` number is skipped.
    - hash_mismatch_at_frames: frame indexes at which a Polymarket book `hash` is wrong.
    HTTP faults: `http_429_fraction` and `http_500_fraction` of requests (their sum at most 1) fail,
    only on paths starting with one of `http_fault_path_prefixes` when that is non-empty;
    `http_429_retry_after_s` is the Retry-After hint a server may send (None: no header).
    Orders: `partial_fill_fraction` of orders may match only `partial_fill_ratio` of their size at
    once; `ack_then_fill` makes IOC/FAK orders acknowledge as live and fill `fill_later_s` later.
    `latency_s` is added to every HTTP answer and socket frame.
    Answers after processing: `answer_500_fraction` and `no_answer_fraction` (sum at most 1) of the
    requests whose method is in `answer_fault_methods` and whose path starts with one of
    `answer_fault_path_prefixes` (empty: no path) take effect and are then answered 500 or never;
    answers on paths starting with one of `slow_answer_path_prefixes` are held `slow_answer_s`
    after they are computed.
    """

    seed: int = 0
    drop_connection_after_frames: int | None = None
    drop_connection_limit: int | None = 1
    freeze_after_frames: int | None = None
    freeze_limit: int | None = 1
    sequence_gap_at_frames: tuple[int, ...] = ()
    hash_mismatch_at_frames: tuple[int, ...] = ()
    http_429_fraction: float = 0.0
    http_500_fraction: float = 0.0
    http_fault_path_prefixes: tuple[str, ...] = ()
    http_429_retry_after_s: float | None = None
    partial_fill_fraction: float = 0.0
    partial_fill_ratio: float = 0.5
    ack_then_fill: bool = False
    fill_later_s: float = 0.0
    latency_s: float = 0.0
    answer_500_fraction: float = 0.0
    no_answer_fraction: float = 0.0
    answer_fault_methods: tuple[str, ...] = ("POST", "DELETE")
    answer_fault_path_prefixes: tuple[str, ...] = ()
    slow_answer_path_prefixes: tuple[str, ...] = ()
    slow_answer_s: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"fault plan seed must be an int, was {self.seed!r}")
        for name in ("drop_connection_after_frames", "drop_connection_limit", "freeze_after_frames", "freeze_limit"):
            _check_count(name, getattr(self, name))
        for name in ("sequence_gap_at_frames", "hash_mismatch_at_frames"):
            frames = getattr(self, name)
            if not isinstance(frames, tuple):
                raise ConfigError(f"fault plan {name} must be a tuple of frame indexes, was {frames!r}")
            for index in frames:
                _check_count(name, index, optional=False)
        for name in ("http_429_fraction", "http_500_fraction", "partial_fill_fraction", "partial_fill_ratio"):
            _check_fraction(name, getattr(self, name))
        if self.http_429_fraction + self.http_500_fraction > 1.0:
            raise ConfigError(
                f"fault plan http_429_fraction + http_500_fraction must be at most 1, was "
                f"{self.http_429_fraction!r} + {self.http_500_fraction!r}"
            )
        for name in ("http_fault_path_prefixes", "answer_fault_path_prefixes", "slow_answer_path_prefixes"):
            _check_prefixes(name, getattr(self, name))
        for name in ("answer_500_fraction", "no_answer_fraction"):
            _check_fraction(name, getattr(self, name))
        if self.answer_500_fraction + self.no_answer_fraction > 1.0:
            raise ConfigError(
                f"fault plan answer_500_fraction + no_answer_fraction must be at most 1, was "
                f"{self.answer_500_fraction!r} + {self.no_answer_fraction!r}"
            )
        if not isinstance(self.answer_fault_methods, tuple) or not all(
            isinstance(m, str) and m.isalpha() and m.isupper() for m in self.answer_fault_methods
        ):
            raise ConfigError(
                f"fault plan answer_fault_methods must be a tuple of HTTP methods, was {self.answer_fault_methods!r}"
            )
        _check_seconds("slow_answer_s", self.slow_answer_s)
        if self.http_429_retry_after_s is not None:
            _check_seconds("http_429_retry_after_s", self.http_429_retry_after_s)
        if not isinstance(self.ack_then_fill, bool):
            raise ConfigError(f"fault plan ack_then_fill must be a bool, was {self.ack_then_fill!r}")
        _check_seconds("fill_later_s", self.fill_later_s)
        _check_seconds("latency_s", self.latency_s)


class FaultInjector:
    """Seeded decisions for one simulated venue, plus faults scripted at run time.

    Scripted faults take a stream name; `"*"` (the default) means any stream: a one-shot fault goes
    to the first stream that asks, a freeze covers every stream. `counts` tallies what was injected
    (keys: "http_429", "http_500", "partial_fill", each `Fault` value (a freeze counted when it
    starts) and "frozen_frames", the frames a freeze swallowed)."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan if plan is not None else FaultPlan()
        seed = self.plan.seed
        self._http_rng = random.Random(f"{seed}:http")
        self._fill_rng = random.Random(f"{seed}:fill")
        self._latency_rng = random.Random(f"{seed}:latency")
        self._answer_rng = random.Random(f"{seed}:answer")
        self.counts: Counter[str] = Counter()
        self.ack_then_fill = self.plan.ack_then_fill
        self.fill_later_s = self.plan.fill_later_s
        self._latency_s = self.plan.latency_s
        self._scripted_http: deque[int] = deque()
        self._frozen: set[str] = set()
        self._one_shot: dict[str, deque[Fault]] = {}
        self._drops: Counter[str] = Counter()
        self._freezes: Counter[str] = Counter()
        self._fired: set[tuple[str, Fault, int]] = set()
        self._lost_answers: deque[tuple[AnswerFault, str, tuple[str, ...]]] = deque()
        self._slow_prefixes = self.plan.slow_answer_path_prefixes
        self._slow_answer_s = self.plan.slow_answer_s
        self._partial_books: dict[str, float] = {}  # book id -> ratio (`partial_fills_on`)

    # -- HTTP ----------------------------------------------------------------------------------

    def http_status(self, path: str = "/") -> int | None:
        """The error status to answer this request with (429 or 500), or None to serve it.
        Scripted failures go first; the seeded draw happens only for paths the plan covers."""
        if self._scripted_http:
            status = self._scripted_http.popleft()
            self.counts[f"http_{status}"] += 1
            return status
        plan = self.plan
        if not (plan.http_429_fraction or plan.http_500_fraction):
            return None
        prefixes = plan.http_fault_path_prefixes
        if prefixes and not path.startswith(prefixes):
            return None
        draw = self._http_rng.random()
        if draw < plan.http_429_fraction:
            status = 429
        elif draw < plan.http_429_fraction + plan.http_500_fraction:
            status = 500
        else:
            return None
        self.counts[f"http_{status}"] += 1
        return status

    should_fail_http = http_status

    def fail_next_http(self, status: int = 500, count: int = 1) -> None:
        """Answer the next `count` requests (any path) with `status`."""
        if count < 0 or not 100 <= status <= 599:
            raise ValueError(f"fail_next_http needs count >= 0 and an HTTP status, was {count}, {status}")
        self._scripted_http.extend([status] * count)

    # -- answers after processing ----------------------------------------------------------------

    def answer_fault(self, method: str, path: str) -> AnswerFault | None:
        """Asked after the handler ran: lose this answer (500 or never), or None to send it.
        Scripted losses go first (the oldest whose methods and prefix match); the seeded draw
        happens only for the methods and paths the plan covers."""
        for i, (mode, prefix, methods) in enumerate(self._lost_answers):
            if method in methods and path.startswith(prefix):
                del self._lost_answers[i]
                self.counts[mode.value] += 1
                return mode
        plan = self.plan
        if not (plan.answer_500_fraction or plan.no_answer_fraction) or method not in plan.answer_fault_methods:
            return None
        prefixes = plan.answer_fault_path_prefixes
        if not prefixes or not path.startswith(prefixes):
            return None
        draw = self._answer_rng.random()
        if draw < plan.answer_500_fraction:
            mode = AnswerFault.ANSWER_500
        elif draw < plan.answer_500_fraction + plan.no_answer_fraction:
            mode = AnswerFault.NO_ANSWER
        else:
            return None
        self.counts[mode.value] += 1
        return mode

    def lose_next_answers(
        self,
        mode: AnswerFault,
        count: int = 1,
        path_prefix: str = "/",
        methods: tuple[str, ...] = ("POST", "DELETE"),
    ) -> None:
        """Process the next `count` requests with one of `methods` on paths starting with
        `path_prefix`, then answer them per `mode` (500, or never)."""
        if not isinstance(mode, AnswerFault) or count < 0 or not path_prefix.startswith("/") or not methods:
            raise ValueError(
                f"lose_next_answers needs an AnswerFault, count >= 0, a '/...' prefix and methods, was {mode!r}"
            )
        self._lost_answers.extend([(mode, path_prefix, methods)] * count)

    def clear_scripted(self) -> None:
        """Forget every scripted fault not yet fired (HTTP failures, lost answers, one-shot frame
        faults). Freezes stay: a frozen stream ends with a new connection or `thaw`."""
        self._scripted_http.clear()
        self._lost_answers.clear()
        self._one_shot.clear()

    def answer_delay_s(self, path: str) -> float:
        """How long to hold an answer already computed for `path` (the slow-answer fault)."""
        if self._slow_answer_s and self._slow_prefixes and path.startswith(self._slow_prefixes):
            self.counts["slow_answer"] += 1
            return self._slow_answer_s
        return 0.0

    def slow_answers(self, prefixes: tuple[str, ...], seconds: float) -> None:
        """From now on hold answers on paths starting with one of `prefixes` for `seconds`
        (an empty tuple or 0 s ends it)."""
        _check_prefixes("slow_answer_path_prefixes", prefixes)
        _check_seconds("slow_answer_s", seconds)
        self._slow_prefixes, self._slow_answer_s = prefixes, float(seconds)

    # -- socket frames -------------------------------------------------------------------------

    def frame_fault(self, stream: str | int = "default", frame_index: int | None = None) -> Fault | None:
        """The fault to apply instead of (or to) data frame `frame_index` on `stream`, or None.
        `frame_fault(frame_index)` alone means the stream "default"."""
        if frame_index is None:
            if not isinstance(stream, int):
                raise TypeError("frame_fault needs a frame index")
            return self._frame_fault("default", stream)
        if not isinstance(stream, str):
            raise TypeError("frame_fault needs a stream name")
        return self._frame_fault(stream, frame_index)

    def _frame_fault(self, stream: str, frame_index: int) -> Fault | None:
        scripted = self._one_shot.get(stream) or self._one_shot.get(ANY_STREAM)
        # A scripted drop closes even a frozen socket; other scripted faults wait for the thaw.
        if scripted and scripted[0] is Fault.DROP_CONNECTION:
            return self._count(scripted.popleft())
        if stream in self._frozen or ANY_STREAM in self._frozen:
            self.counts["frozen_frames"] += 1
            return Fault.FREEZE
        if scripted:
            return self._count(scripted.popleft())
        plan = self.plan
        if frame_index == plan.drop_connection_after_frames and (
            plan.drop_connection_limit is None or self._drops[stream] < plan.drop_connection_limit
        ):
            self._drops[stream] += 1
            return self._count(Fault.DROP_CONNECTION)
        if (
            plan.freeze_after_frames is not None
            and frame_index >= plan.freeze_after_frames
            and (plan.freeze_limit is None or self._freezes[stream] < plan.freeze_limit)
        ):
            self._freezes[stream] += 1
            self._frozen.add(stream)
            return self._count(Fault.FREEZE)
        for fault, frames in (
            (Fault.SEQUENCE_GAP, plan.sequence_gap_at_frames),
            (Fault.HASH_MISMATCH, plan.hash_mismatch_at_frames),
        ):
            if frame_index in frames:
                key = (stream, fault, frame_index)
                if key not in self._fired:
                    self._fired.add(key)
                    return self._count(fault)
        return None

    def connection_opened(self, stream: str) -> None:
        """A new connection serves `stream`: it starts unfrozen (a scripted "*" freeze stays)."""
        self._frozen.discard(stream)

    def frozen(self, stream: str) -> bool:
        return stream in self._frozen or ANY_STREAM in self._frozen

    def freeze(self, stream: str = ANY_STREAM) -> None:
        """Go silent on `stream` from its next frame until `thaw`."""
        if stream not in self._frozen:
            self._count(Fault.FREEZE)
        self._frozen.add(stream)

    def thaw(self, stream: str = ANY_STREAM) -> None:
        """End a freeze (`"*"` ends every freeze)."""
        if stream == ANY_STREAM:
            self._frozen.clear()
        else:
            self._frozen.discard(stream)

    def drop_next(self, stream: str = ANY_STREAM) -> None:
        self._script(stream, Fault.DROP_CONNECTION)

    def gap_next(self, stream: str = ANY_STREAM) -> None:
        self._script(stream, Fault.SEQUENCE_GAP)

    def corrupt_next_hash(self, stream: str = ANY_STREAM) -> None:
        self._script(stream, Fault.HASH_MISMATCH)

    def _script(self, stream: str, fault: Fault) -> None:
        self._one_shot.setdefault(stream, deque()).append(fault)

    def _count(self, fault: Fault) -> Fault:
        self.counts[fault.value] += 1
        return fault

    # -- orders and latency --------------------------------------------------------------------

    def partial_fills_on(self, book_id: str, ratio: float = 0.5) -> None:
        """From now on every order on book `book_id` (a Kalshi ticker, a Polymarket token) matches
        only `ratio` of its size at once, whatever the plan says, until `clear_partial_fills`:
        a scenario contests chosen markets this way."""
        _check_fraction("partial fill ratio", ratio)
        self._partial_books[book_id] = ratio

    def clear_partial_fills(self, book_id: str | None = None) -> None:
        """Stop the scripted partial fills on `book_id` (None: on every book)."""
        if book_id is None:
            self._partial_books.clear()
        else:
            self._partial_books.pop(book_id, None)

    def partial_fill_limit(self, size_micro: int, lot_micro: int = 1, book_id: str | None = None) -> int | None:
        """A cap on how much of an order of `size_micro` may match at once (a multiple of
        `lot_micro`, below the size), or None for no cap. Drawn once per order, unless `book_id`
        is one `partial_fills_on` named (then always, at its ratio)."""
        if size_micro <= 0 or lot_micro <= 0:
            raise ValueError(f"partial_fill_limit needs positive size and lot, was {size_micro}, {lot_micro}")
        scripted = self._partial_books.get(book_id) if book_id is not None else None
        fraction = self.plan.partial_fill_fraction
        if scripted is None and (not fraction or self._fill_rng.random() >= fraction):
            return None
        # Exact: the ratio is taken to 6 decimals, then rounded down to whole lots, below the size.
        ratio_micro = round((self.plan.partial_fill_ratio if scripted is None else scripted) * 1_000_000)
        cap = size_micro * ratio_micro // 1_000_000 // lot_micro * lot_micro
        if cap >= size_micro:
            cap = size_micro - lot_micro if size_micro > lot_micro else 0
        self.counts["partial_fill"] += 1
        return cap

    @property
    def latency_s(self) -> float:
        """Delay to add before each HTTP answer or socket frame."""
        return self._latency_s

    @latency_s.setter
    def latency_s(self, seconds: float) -> None:
        _check_seconds("latency_s", seconds)
        self._latency_s = float(seconds)

    def jittered_latency_s(self, jitter_fraction: float = 0.5) -> float:
        """`latency_s` times a seeded uniform factor in [1 - jitter, 1 + jitter]."""
        if not self._latency_s:
            return 0.0
        return self._latency_s * (1.0 + jitter_fraction * (2.0 * self._latency_rng.random() - 1.0))
