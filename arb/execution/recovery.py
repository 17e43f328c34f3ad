"""Start-up recovery: reconcile the ledger's journal with each venue before trading may start.

A trading process can die anywhere: after journaling an intent and before sending, with a POST in
flight, after the venue filled an order and before the fill was recorded. `recover` runs in the
next process, before any order, and brings the ledger back to the venue's truth:

1. Every order the ledger does not hold final (PENDING, UNKNOWN, OPEN), or whose filled size does
   not match the fills on file, is looked up: Kalshi by our
   `client_order_id`, Polymarket by the order hash the ledger recorded (the Polymarket client
   announces the hash PENDING before the POST leaves, and the journal records it then; an order with
   no recorded hash was never sent). The dead process's sends are registered with the new client as
   unanswered as of now, so the client's own rule applies: an order the venue does not have stays
   UNKNOWN while such a send could still reach it (`order_settle_s`), and only then becomes
   REJECTED. Recovery waits that window once (injected `sleep`) and asks again.
2. Every order of ours still resting is cancelled, and so is any resting order on the account that
   the ledger does not know (an orphan; listed as a difference: the ledger cannot account for it).
3. Every fill of ours in the markets the journal traded is fetched (since the oldest intent) and
   recorded; `Ledger.record_fill` counts each fill id once. An order whose filled size then
   differs from its fills on file is looked up again and stored as the venue has it.
   Venue fills are normalised to the instrument the journal traded (Kalshi states every fill on the
   YES contract: a BUY NO at q comes back as SELL YES at 1 - q).
4. Positions and cash are compared with the venue's, exactly, and every difference is listed.

Cash. Ledger cash per venue is what the fills moved, on top of an opening balance. At the first
start (the ledger has no cash for that venue and no fill on it) the opening balance is the venue's
available balance, taken after the orphans are cancelled (`RecoveryConfig.adopt_opening_cash`);
from then on ledger cash must equal the venue's balance exactly. Kalshi nets YES against NO (a
closed pair pays $1 at once), while the ledger keeps the instruments the plans traded, so on Kalshi
the venue's position is ledger YES - NO and its cash is ledger cash + min(YES, NO) x $1. Deposits,
withdrawals and settlements are not fills: they show as cash differences until booked with
`Ledger.set_cash`. Fills carry the fee the venue charged (Polymarket's are priced by the market's
fee schedule, see `PolymarketUserSession`); a fill whose fee is not known (a market whose schedule
is not known, a stated rate that is not the schedule's) is on file with fee 0, and a cash
difference names those fills.

`RecoveryReport.clean` says whether trading may start: no order left UNKNOWN, no lookup that
failed, nothing on the venue the ledger does not know, positions and cash equal. Recovery assumes
the process that wrote the journal is dead (a live one would keep sending).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, cast

from arb.domain import Action, Fill, OrderStatus, OrderUpdate, Side, Venue
from arb.errors import ArbError, ConfigError
from arb.fixed import SCALE
from arb.ledger import FillResult, JournaledLeg, Ledger, OrderRecord
from arb.venues.base import Clock, OrderSends, VenueClient

__all__ = [
    "Difference",
    "RecoveryConfig",
    "RecoveryError",
    "RecoveryReport",
    "normalise_fill",
    "recover",
]

_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})
_MICRO = Decimal(SCALE)


class RecoveryError(ArbError):
    """Trading must not start: recovery found differences it cannot settle (see the report)."""


@dataclass(frozen=True, slots=True)
class RecoveryConfig:
    """`adopt_opening_cash`: at a venue's first start, take its available balance as the ledger's
    opening cash. `settle_waits`: how many times recovery waits out the clients' `order_settle_s`
    for orders the venue has not shown yet (0: never wait; such orders stay UNKNOWN and the report
    unclean). `lookback_ms`: how far before an intent's journal time a venue query starts (clock
    skew between us and the venue)."""

    adopt_opening_cash: bool = True
    settle_waits: int = 1
    lookback_ms: int = 60_000

    def __post_init__(self) -> None:
        if isinstance(self.settle_waits, bool) or not isinstance(self.settle_waits, int) or self.settle_waits < 0:
            raise ConfigError(f"recovery settle_waits must be an int >= 0, was {self.settle_waits!r}")
        if isinstance(self.lookback_ms, bool) or not isinstance(self.lookback_ms, int) or self.lookback_ms < 0:
            raise ConfigError(f"recovery lookback_ms must be an int >= 0, was {self.lookback_ms!r}")


@dataclass(frozen=True, slots=True)
class Difference:
    """One thing the ledger and a venue disagree on (or that could not be settled). `kind`:
    order_unknown (still UNKNOWN after the settle window), order_missing (an order the venue had
    acknowledged is not found), lookup_failed, cancel_failed, order_refused
    (the ledger refused the venue's state of an order), order_fills (its filled size and its fills differ),
    unknown_order (on the venue, not in the ledger), unknown_fill, fill_refused (the ledger refused
    a venue fill), position, cash."""

    venue: Venue
    kind: str
    key: str
    ledger: str
    venue_value: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    differences: tuple[Difference, ...]
    resolved: tuple[tuple[str, OrderStatus, OrderStatus], ...]  # (client order id, before, after)
    cancelled: tuple[str, ...]  # venue order ids cancelled (ours, then orphans)
    fills_applied: int  # fills new to the ledger
    fills_seen: int  # fills the venues reported for our orders
    opening_cash: tuple[tuple[Venue, Decimal], ...]  # balances adopted at a first start
    waited_s: float  # time spent waiting out sends that might still be in flight

    @property
    def clean(self) -> bool:
        return not self.differences

    def require_clean(self) -> None:
        """Raise `RecoveryError` listing the differences unless trading may start."""
        if self.differences:
            shown = "; ".join(
                f"{d.venue.value} {d.kind} {d.key}: ledger {d.ledger}, venue {d.venue_value}"
                + (f" ({d.detail})" if d.detail else "")
                for d in self.differences[:10]
            )
            raise RecoveryError(f"recovery found {len(self.differences)} difference(s): {shown}")


class _Reconciling(Protocol):
    sends: OrderSends


@dataclass(slots=True)
class _Leg:
    intent_id: str
    created_ms: int
    journaled: JournaledLeg


@dataclass(slots=True)
class _Run:
    ledger: Ledger
    clients: Mapping[Venue, VenueClient]
    config: RecoveryConfig
    wall_ms: Callable[[], int]
    clock: Clock
    sleep: Callable[[float], Awaitable[None]]
    legs: dict[str, _Leg] = field(default_factory=dict)  # by client order id
    differences: list[Difference] = field(default_factory=list)
    resolved: list[tuple[str, OrderStatus, OrderStatus]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    fills_applied: int = 0
    fills_seen: int = 0
    opening_cash: list[tuple[Venue, Decimal]] = field(default_factory=list)
    waited_s: float = 0.0
    fee_unknown: dict[Venue, list[str]] = field(default_factory=dict)  # fill ids whose fee the venue did not tell

    def differ(self, venue: Venue, kind: str, key: str, ledger: object, venue_value: object, detail: str = "") -> None:
        self.differences.append(Difference(venue, kind, key, str(ledger), str(venue_value), detail))


def normalise_fill(fill: Fill, leg: JournaledLeg) -> Fill:
    """`fill` of the order that leg `leg` sent, stated on the instrument the leg traded, carrying
    our client order id. Kalshi states fills on the YES contract: a fill on the other contract of
    the same market is the mirror trade (BUY YES at p = SELL NO at 1 - p)."""
    outcome, action, price = fill.outcome, fill.action, fill.price_micro_usd
    if outcome is None or action is None:
        raise ConfigError(f"fill {fill.fill_id}: the venue did not say its side and action")
    if fill.market_id != leg.leg.market_id:
        raise ConfigError(f"fill {fill.fill_id} is in {fill.market_id}, its order in {leg.leg.market_id}")
    if outcome is not leg.leg.outcome:
        if fill.venue is not Venue.KALSHI:
            raise ConfigError(f"fill {fill.fill_id} is on {outcome.value}, its order on {leg.leg.outcome.value}")
        outcome = leg.leg.outcome
        action = Action.SELL if action is Action.BUY else Action.BUY
        price = SCALE - price
    return dataclasses.replace(
        fill, client_order_id=leg.client_order_id, outcome=outcome, action=action, price_micro_usd=price
    )


async def recover(
    ledger: Ledger,
    clients: Mapping[Venue, VenueClient],
    *,
    wall_ms: Callable[[], int],
    clock: Clock = time.monotonic_ns,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    config: RecoveryConfig | None = None,
) -> RecoveryReport:
    """Reconcile `ledger` with the venues in `clients` (see the module docstring). The clients
    must be able to look up and cancel orders (Polymarket: its markets loaded); `clock` must be
    the clients' own (their in-flight windows are measured on it). Every venue with an order in
    the journal needs a client. Never raises for what it finds: it lists it."""
    run = _Run(ledger, clients, config or RecoveryConfig(), wall_ms, clock, sleep)
    for intent_id, created_ms, leg in ledger.journaled_legs():
        run.legs[leg.client_order_id] = _Leg(intent_id, created_ms, leg)
    missing = {leg.journaled.leg.venue for leg in run.legs.values()} - set(clients)
    if missing:
        raise ConfigError(
            f"recovery needs a client for every journaled venue; missing {sorted(v.value for v in missing)}"
        )
    await _resolve_orders(run)
    for venue, client in clients.items():
        await _cancel_resting(run, venue, client)
    for venue, client in clients.items():
        await _record_fills(run, venue, client)
    await _check_filled_sizes(run)
    for venue, client in clients.items():
        await _compare(run, venue, client)
    return RecoveryReport(
        tuple(run.differences),
        tuple(run.resolved),
        tuple(run.cancelled),
        run.fills_applied,
        run.fills_seen,
        tuple(run.opening_cash),
        run.waited_s,
    )


# ---- 1. orders the ledger does not hold final -------------------------------------------------


def _lookup_key(order: OrderRecord) -> str | None:
    """What the venue finds the order by: Kalshi our client id, Polymarket the recorded hash."""
    if order.venue is Venue.KALSHI:
        return order.client_order_id
    return order.order_id


async def _reconcile(client: VenueClient, order: OrderRecord, key: str) -> OrderUpdate:
    venue_client = cast(Any, client)
    if order.venue is Venue.KALSHI:
        if order.order_id:  # the venue's id is known: no search by client id needed
            found = await venue_client.get_order(order.order_id)
            if found is not None:
                return cast(OrderUpdate, found)
        return cast(OrderUpdate, await venue_client.reconcile_order(key, order.market_id))
    return cast(OrderUpdate, await venue_client.reconcile_order(key))


async def _resolve_orders(run: _Run) -> None:
    pending = [o for o in run.ledger.orders() if o.status not in _FINAL]
    for order in pending:
        if order.status is OrderStatus.OPEN:
            continue  # the venue acknowledged it: no send of it can still be in flight
        client = cast(_Reconciling, run.clients[order.venue])
        key = _lookup_key(order)
        if key is None:
            continue
        leg = run.legs[order.client_order_id]
        # The dead process may have sent this order at any moment up to its death, which came
        # before now: an unanswered send as of now, first sent no earlier than its journal time.
        now_ns = run.clock()
        client.sends.begin(key, order.market_id, now_ns=now_ns, wall_ms=max(0, leg.created_ms - run.config.lookback_ms))
        template = OrderUpdate(
            order.venue, order.order_id or "", order.client_order_id, order.market_id, leg.journaled.leg.book_id,
            leg.journaled.leg.outcome, leg.journaled.leg.action, OrderStatus.UNKNOWN, None, None, None, None,
            reason="sent by a process that died before the answer",
        )  # fmt: skip
        client.sends.unanswered(key, now_ns, template)
    left = list(pending)
    for attempt in range(run.config.settle_waits + 1):
        still: list[OrderRecord] = []
        for order in left:
            if not await _resolve_one(run, order, last=attempt == run.config.settle_waits):
                still.append(order)
        left = still
        if not left:
            return
        # just past the window: a send unanswered exactly `settle_ns` ago still counts as in flight
        settle_s = (max(cast(_Reconciling, run.clients[o.venue]).sends.settle_ns for o in left) + 1_000_000) / 1e9
        await run.sleep(settle_s)
        run.waited_s += settle_s


async def _check_filled_sizes(run: _Run) -> None:
    """After the fills are in: an order whose filled size differs from its fills on file (an
    answer said "filled" or "cancelled" without the size, or the process died before recording
    the rest) is looked up again, and the venue's record stored; a difference that remains is
    listed."""
    totals = run.ledger.filled_by_order()
    for order in run.ledger.orders():
        total = totals.get(order.client_order_id, 0)
        if total == order.filled_micro or order.order_id is None:
            continue
        await _resolve_one(run, order, last=True)
        after = run.ledger.order(order.client_order_id)
        if after is not None and after.filled_micro != total:
            run.differ(
                order.venue, "order_fills", order.client_order_id, f"{total} in fills", after.filled_micro,
                "the venue's filled size differs from the fills it reported",
            )  # fmt: skip


async def _resolve_one(run: _Run, order: OrderRecord, *, last: bool) -> bool:
    """Settle one order; False while it stays UNKNOWN (and not `last`: asked again later)."""
    venue = order.venue
    cid = order.client_order_id
    key = _lookup_key(order)
    if key is None:
        # Polymarket without a recorded hash: the hash is recorded before the POST leaves, so
        # this order was never sent.
        update = OrderUpdate(
            venue, "", cid, order.market_id, "", None, None, OrderStatus.REJECTED, None, None, 0, 0,
            reason="never sent: no order hash was journaled",
        )  # fmt: skip
    else:
        try:
            update = await _reconcile(run.clients[venue], order, key)
        except ArbError as exc:
            run.differ(venue, "lookup_failed", cid, order.status.value, "?", f"{type(exc).__name__}: {exc}")
            return True
    if update.status is OrderStatus.UNKNOWN:
        if last:
            run.differ(venue, "order_unknown", cid, order.status.value, "unknown", update.reason)
        return last
    if update.status is OrderStatus.REJECTED and order.status not in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
        # the venue once acknowledged this order and now does not find it: never guess what it did
        run.differ(venue, "order_missing", cid, order.status.value, "not found", update.reason)
        return True
    _store(run, order, update)
    return True


def _store(run: _Run, order: OrderRecord, update: OrderUpdate) -> None:
    update = dataclasses.replace(update, client_order_id=order.client_order_id)
    try:
        run.ledger.record_order(update, now_ms=run.wall_ms())
    except ConfigError as exc:
        run.differ(
            order.venue, "order_refused", order.client_order_id, order.status.value, update.status.value, str(exc)
        )
        return
    after = run.ledger.order(order.client_order_id)
    if after is not None and after.status is not order.status:
        run.resolved.append((order.client_order_id, order.status, after.status))


# ---- 2. cancel what rests ---------------------------------------------------------------------


async def _cancel_resting(run: _Run, venue: Venue, client: VenueClient) -> None:
    by_order_id = {o.order_id: o for o in run.ledger.orders() if o.venue is venue and o.order_id}
    by_cid = {o.client_order_id: o for o in run.ledger.orders() if o.venue is venue}
    try:
        resting = await client.open_orders()
    except ArbError as exc:
        run.differ(venue, "lookup_failed", "open orders", "", "?", f"{type(exc).__name__}: {exc}")
        return
    targets: dict[str, tuple[str, OrderRecord | None]] = {}
    for update in resting:
        ours = by_order_id.get(update.order_id) or (
            by_cid.get(update.client_order_id or "") if venue is Venue.KALSHI else None
        )
        targets[update.order_id] = (update.market_id, ours)
    for order in run.ledger.orders(statuses=(OrderStatus.OPEN,)):
        if order.venue is venue and order.order_id and order.order_id not in targets:
            targets[order.order_id] = (order.market_id, order)
    unsettled: dict[str, tuple[str, OrderRecord | None, str]] = {}
    for order_id, (market_id, ours) in targets.items():
        try:
            result = await client.cancel_order(order_id, market_id)
        except ArbError as exc:
            unsettled[order_id] = (market_id, ours, f"{type(exc).__name__}: {exc}")
            continue
        if result.status is not OrderStatus.CANCELED and result.status is not OrderStatus.FILLED:
            unsettled[order_id] = (market_id, ours, f"{result.status.value}: {result.reason}")
            continue
        _cancelled(run, venue, order_id, market_id, ours, result)
    if unsettled:
        # A cancel whose answer was lost may still have worked: ask the venue what rests now.
        try:
            still = {o.order_id: o for o in await client.open_orders()}
        except ArbError as exc:
            still = {}
            for order_id, (_, _, why) in unsettled.items():
                run.differ(venue, "cancel_failed", order_id, "", "?", f"{why}; then {type(exc).__name__}: {exc}")
            return
        for order_id, (market_id, ours, why) in unsettled.items():
            if order_id in still:
                run.differ(venue, "cancel_failed", order_id, "", "resting", why)
            elif ours is None:
                run.cancelled.append(order_id)
                run.differ(venue, "unknown_order", order_id, "absent", "was resting (cancelled)", f"market {market_id}")
            else:
                run.cancelled.append(order_id)
                await _resolve_one(run, ours, last=True)


def _cancelled(
    run: _Run, venue: Venue, order_id: str, market_id: str, ours: OrderRecord | None, result: OrderUpdate
) -> None:
    run.cancelled.append(order_id)
    if ours is None:
        run.differ(venue, "unknown_order", order_id, "absent", "was resting (cancelled)", f"market {market_id}")
    else:
        _store(run, ours, result)


# ---- 3. fills -----------------------------------------------------------------------------------


async def _record_fills(run: _Run, venue: Venue, client: VenueClient) -> None:
    """Every fill of ours in every market the journal traded on this venue, since the oldest
    journaled intent (less `lookback_ms`), recorded once. The whole history, not only the orders
    that look unsettled: an answer can say "cancelled" without saying what filled first, so no
    order's fills can be trusted complete without asking."""
    legs = [leg for leg in run.legs.values() if leg.journaled.leg.venue is venue]
    if not legs:
        return
    orders = [o for o in run.ledger.orders() if o.venue is venue]
    by_order_id = {o.order_id: o for o in orders if o.order_id}
    by_cid = {o.client_order_id: o for o in orders}
    since_ms = max(0, min(leg.created_ms for leg in legs) - run.config.lookback_ms)
    for market_id in sorted({leg.journaled.leg.market_id for leg in legs}):
        try:
            if venue is Venue.KALSHI:
                fills = await cast(Any, client).fills(market_id, since_ms=since_ms)
            else:
                fills = await client.fills(market_id)
        except ArbError as exc:
            run.differ(venue, "lookup_failed", f"fills {market_id}", "", "?", f"{type(exc).__name__}: {exc}")
            continue
        for fill in cast(Iterable[Fill], fills):
            ours = by_order_id.get(fill.order_id)
            if ours is None and venue is Venue.KALSHI and fill.client_order_id:
                ours = by_cid.get(fill.client_order_id)
            if ours is None:
                run.differ(venue, "unknown_fill", fill.fill_id, "absent", f"{fill.size_micro} of order {fill.order_id}")
                continue
            run.fills_seen += 1
            if fill.fee_micro_usd is None:
                run.fee_unknown.setdefault(venue, []).append(fill.fill_id)
            try:
                normal = normalise_fill(fill, run.legs[ours.client_order_id].journaled)
                shares = run.ledger.fill_shares(venue, fill.fill_id)
                if len(shares) > 1 or (shares and shares[0][4] != fill.size_micro):
                    _record_split(run, normal, shares)
                elif run.ledger.record_fill(normal, now_ms=run.wall_ms()) is FillResult.APPLIED:
                    run.fills_applied += 1
            except ConfigError as exc:
                run.differ(venue, "fill_refused", fill.fill_id, "", f"{fill.size_micro}", str(exc))


def _record_split(run: _Run, fill: Fill, shares: list[tuple[str, Side, Action, int, int]]) -> None:
    """`fill` is on file split in shares (the executor splits a pooled order's fill per plan leg:
    `<id>`, `<id>/<n>`). Each share must be the same trade on the same ladder (the mirror
    instrument at 1 - price); what the shares do not cover yet (a crash between the writes of one
    split) is recorded as `<id>/recovered` on the journaled order's terms, fee 0 (the fee is on the
    first share): the venue's position and cash are the same either way (see the module docstring)."""
    assert fill.outcome is not None and fill.action is not None
    for share_id, outcome, action, price, _ in shares:
        same = outcome is fill.outcome and action is fill.action and price == fill.price_micro_usd
        mirror = outcome is not fill.outcome and action is not fill.action and price == SCALE - fill.price_micro_usd
        if not (same or mirror):
            raise ConfigError(f"fill share {share_id} on file is not a trade of {fill.fill_id}'s kind on its ladder")
    recorded = sum(share[4] for share in shares)
    if recorded > fill.size_micro:
        raise ConfigError(f"fill {fill.fill_id}: shares on file total {recorded}, the venue says {fill.size_micro}")
    if recorded < fill.size_micro:
        rest = dataclasses.replace(
            fill, fill_id=f"{fill.fill_id}/recovered", size_micro=fill.size_micro - recorded, fee_micro_usd=0
        )
        if run.ledger.record_fill(rest, now_ms=run.wall_ms()) is FillResult.APPLIED:
            run.fills_applied += 1


# ---- 4. positions and cash ----------------------------------------------------------------------


async def _compare(run: _Run, venue: Venue, client: VenueClient) -> None:
    try:
        venue_positions = await client.positions()
        balance = await client.balance()
    except ArbError as exc:
        run.differ(venue, "lookup_failed", "positions and balance", "", "?", f"{type(exc).__name__}: {exc}")
        return
    ledger_positions = {k: v for k, v in run.ledger.positions().items() if k[0] is venue}
    pairs_micro = 0
    expected: dict[tuple[str, str], int] = {}  # (market, book) -> size the venue should hold
    if venue is Venue.KALSHI:
        for market in {m for _, m, _ in ledger_positions}:
            yes = ledger_positions.get((venue, market, Side.YES), 0)
            no = ledger_positions.get((venue, market, Side.NO), 0)
            expected[(market, market)] = yes - no
            pairs_micro += min(yes, no)
        held = {(p.market_id, p.market_id): p.position_micro for p in venue_positions}
    else:
        tokens = {
            (leg.journaled.leg.market_id, leg.journaled.leg.outcome): leg.journaled.leg.book_id
            for leg in run.legs.values()
            if leg.journaled.leg.venue is venue and leg.journaled.leg.book_id
        }
        # A journal leg that does not name its token (journaled before legs named their ladder):
        # ask the venue for the market's tokens.
        for market in sorted({m for _, m, o in ledger_positions if (m, o) not in tokens}):
            try:
                info = await cast(Any, client).clob_market(market)
            except ArbError as exc:
                run.differ(venue, "lookup_failed", f"market {market}", "", "?", f"{type(exc).__name__}: {exc}")
                continue
            if info.token_ids is not None:
                tokens[(market, Side.YES)], tokens[(market, Side.NO)] = info.token_ids
        for (_, market, outcome), size in ledger_positions.items():
            token = tokens.get((market, outcome))
            if not token:
                run.differ(venue, "position", f"{market}:{outcome.value}", size, "?", "no journaled token for it")
                continue
            expected[(market, token)] = size
        held = {(p.market_id, p.book_id): p.position_micro for p in venue_positions}
    for key in sorted(set(expected) | set(held)):
        mine, theirs = expected.get(key, 0), held.get(key, 0)
        if mine != theirs:
            run.differ(venue, "position", ":".join(dict.fromkeys(key)), mine, theirs, "micro-contracts")
    venue_cash = Decimal(balance.available_micro_usd) / _MICRO
    cash = run.ledger.cash()
    # No cash row means no fill was ever recorded on this venue (a fill creates it): a first start.
    if venue not in cash and run.config.adopt_opening_cash:
        opening = venue_cash - Decimal(pairs_micro) / _MICRO
        run.ledger.set_cash(venue, opening)
        run.opening_cash.append((venue, opening))
        cash = run.ledger.cash()
    mine_cash = cash.get(venue, Decimal(0)) + Decimal(pairs_micro) / _MICRO
    if mine_cash != venue_cash:
        unknown = run.fee_unknown.get(venue, [])
        # a fill whose fee the venue did not tell is on file with fee 0: name them, they may be why
        detail = "USD"
        if unknown:
            shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            detail = f"USD; {len(unknown)} fill(s) with the fee unknown, counted as 0: {shown}"
        run.differ(venue, "cash", "available", mine_cash, venue_cash, detail)
