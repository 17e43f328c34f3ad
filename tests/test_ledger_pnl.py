"""Ledger settlements and P&L: a hand-computed reference, settlement idempotence and late fills,
and a property (realised + unrealised at marks == cash moved + positions at marks) over random
fill sequences with position reversals, failed fills and settlements.

The references here are this file's own arithmetic (written out in cents), not the ledger's code."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from arb.domain import Action, Fill, FillStatus, Side, Venue
from arb.errors import ConfigError
from arb.ledger import Ledger, LedgerError, Payout, SettlementResult

DAY1 = int(datetime(2026, 12, 5, 10, 0, tzinfo=UTC).timestamp()) * 1000
DAY2 = int(datetime(2026, 12, 6, 9, 30, tzinfo=UTC).timestamp()) * 1000
DAY3 = int(datetime(2026, 12, 7, 23, 59, tzinfo=UTC).timestamp()) * 1000
K, P = Venue.KALSHI, Venue.POLYMARKET


def _fill(
    fill_id: str,
    venue: Venue,
    market: str,
    outcome: Side,
    action: Action,
    price: str,
    contracts: str,
    fee: str,
    status: FillStatus = FillStatus.CONFIRMED,
) -> Fill:
    return Fill(
        venue=venue,
        fill_id=fill_id,
        order_id="o-" + fill_id,
        client_order_id=None,
        market_id=market,
        book_id=market,
        outcome=outcome,
        action=action,
        price_micro_usd=int(Decimal(price) * 1_000_000),
        size_micro=int(Decimal(contracts) * 1_000_000),
        fee_micro_usd=int(Decimal(fee) * 1_000_000),
        liquidity=None,
        status=status,
    )


def _usd(text: str) -> Decimal:
    return Decimal(text)


def test_pnl_matches_a_hand_computed_reference(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db", synchronous="NORMAL") as ledger:
        ledger.set_cash(K, Decimal(500))  # an opening balance is not P&L
        # day 1
        ledger.record_fill(_fill("a1", K, "KX-A", Side.YES, Action.BUY, "0.40", "10", "0.17"), now_ms=DAY1)
        ledger.record_fill(_fill("a2", K, "KX-A", Side.YES, Action.BUY, "0.46", "5", "0.09"), now_ms=DAY1)
        ledger.record_fill(_fill("p1", P, "0xpm", Side.NO, Action.BUY, "0.30", "20", "0"), now_ms=DAY1)
        ledger.record_fill(_fill("p2", P, "0xpm", Side.NO, Action.BUY, "0.35", "10", "0.01"), now_ms=DAY1)
        # day 2: p2 failed on chain (never happened); sells through zero; a settlement
        ledger.record_fill(
            _fill("p2", P, "0xpm", Side.NO, Action.BUY, "0.35", "10", "0.01", FillStatus.FAILED), now_ms=DAY2
        )
        ledger.record_fill(_fill("a3", K, "KX-A", Side.YES, Action.SELL, "0.55", "12", "0.18"), now_ms=DAY2)
        ledger.record_fill(_fill("a4", K, "KX-A", Side.YES, Action.SELL, "0.50", "5", "0.09"), now_ms=DAY2)
        assert ledger.record_settlement(P, "0xpm", Side.NO, now_ms=DAY2) is SettlementResult.APPLIED
        ledger.record_fill(_fill("b1", K, "KX-B", Side.NO, Action.BUY, "0.25", "4", "0.07"), now_ms=DAY2)
        ledger.record_mark(K, "KX-A", Side.YES, 520_000, now_ms=DAY2)

        pnl = ledger.pnl()
        # Realised, FIFO, fees at once:
        #  day 1: fees a1 0.17 + a2 0.09 (p1 0, p2 reversed)                    = -0.26
        #  day 2: a3 closes 10 @0.40 at 0.55 (+1.50) and 2 @0.46 (+0.18), fee 0.18 -> +1.50
        #         a4 closes 3 @0.46 at 0.50 (+0.12), opens short 2 @0.50, fee 0.09 -> +0.03
        #         0xpm NO won: 20 @0.30 paid 1.00                                 -> +14.00
        #         b1 fee 0.07                                                      -> -0.07
        #                                                                           = 15.46
        assert pnl.realised_by_day == (("2026-12-05", _usd("-0.26")), ("2026-12-06", _usd("15.46")))
        assert pnl.realised_usd == _usd("15.20")
        assert pnl.fees_usd == _usd("0.60")  # 0.17 + 0.09 + 0.18 + 0.09 + 0.07
        # short 2 KX-A YES sold at 0.50, marked 0.52: -2 x 0.52 - (-2 x 0.50) = -0.04
        assert pnl.unrealised_usd == _usd("-0.04")
        assert pnl.unmarked == ((K, "KX-B", Side.NO),)  # held, no mark: named, not valued
        by_key = {(p.venue, p.market_id, p.outcome): p for p in pnl.positions}
        kx_a = by_key[(K, "KX-A", Side.YES)]
        assert (kx_a.size_micro, kx_a.cost_usd, kx_a.realised_usd) == (-2_000_000, _usd("-1.00"), _usd("1.27"))
        assert kx_a.fees_usd == _usd("0.53") and kx_a.unrealised_usd == _usd("-0.04") and not kx_a.settled
        kx_b = by_key[(K, "KX-B", Side.NO)]
        assert (kx_b.size_micro, kx_b.cost_usd, kx_b.unrealised_usd) == (4_000_000, _usd("1.00"), None)
        pm = by_key[(P, "0xpm", Side.NO)]
        assert (pm.size_micro, pm.realised_usd, pm.settled, pm.unrealised_usd) == (0, _usd("14.00"), True, _usd("0"))
        # Cash: kalshi 500 - 4.17 - 2.39 + 6.42 + 2.41 - 1.07; polymarket -6.00 + 20.00
        assert ledger.cash() == {K: _usd("501.20"), P: _usd("14.00")}
        assert ledger.positions() == {(K, "KX-A", Side.YES): -2_000_000, (K, "KX-B", Side.NO): 4_000_000}
        # realised + unrealised = cash moved + marked positions + the unmarked position's cost
        assert pnl.realised_usd + pnl.unrealised_usd == _usd("1.20") + _usd("14.00") - _usd("1.04") + _usd("1.00")


def test_settlement_is_once_per_market_and_refuses_other_terms(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db", synchronous="NORMAL") as ledger:
        ledger.record_fill(_fill("y", K, "KX-A", Side.YES, Action.BUY, "0.30", "3", "0.02"), now_ms=DAY1)
        ledger.record_fill(_fill("s", K, "KX-A", Side.NO, Action.SELL, "0.60", "2", "0.02"), now_ms=DAY1)
        ledger.record_fill(_fill("o", K, "KX-OTHER", Side.YES, Action.BUY, "0.50", "1", "0"), now_ms=DAY1)
        # a void paying 0.45 YES / 0.55 NO: 3 YES get 1.35, the 2 NO short pay 1.10
        void = Payout(450_000, 550_000)
        assert ledger.record_settlement(K, "KX-A", void, now_ms=DAY2) is SettlementResult.APPLIED
        cash = ledger.cash()[K]
        assert cash == _usd("-0.92") + _usd("1.18") - _usd("0.50") + _usd("1.35") - _usd("1.10")
        assert ledger.positions() == {(K, "KX-OTHER", Side.YES): 1_000_000}
        assert ledger.settlement(K, "KX-A") == void and ledger.settlement(K, "KX-OTHER") is None
        assert ledger.record_settlement(K, "KX-A", void, now_ms=DAY3) is SettlementResult.DUPLICATE
        assert ledger.cash()[K] == cash
        with pytest.raises(ConfigError, match="settled paying"):
            ledger.record_settlement(K, "KX-A", Side.YES, now_ms=DAY3)
        with pytest.raises(ConfigError, match="above 1 USD"):
            Payout(1_000_001, 0)
        with pytest.raises(ConfigError, match="must be an int"):
            Payout(0.5, 0.5)  # type: ignore[arg-type]
        # realised: 3 x (0.45 - 0.30) + (-2) x (0.55 - 0.60) - fees 0.04 = 0.45 + 0.10 - 0.04
        assert ledger.pnl().realised_usd == _usd("0.51")


def test_a_late_fill_in_a_settled_market_is_paid_out_and_its_reversal_undoes_both(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db", synchronous="NORMAL") as ledger:
        ledger.record_fill(_fill("p1", P, "0xpm", Side.NO, Action.BUY, "0.30", "20", "0"), now_ms=DAY1)
        ledger.record_settlement(P, "0xpm", Side.NO, now_ms=DAY2)
        assert ledger.cash()[P] == _usd("14.00") and ledger.positions() == {}
        late = _fill("p9", P, "0xpm", Side.NO, Action.BUY, "0.40", "2", "0.01")
        ledger.record_fill(late, now_ms=DAY3)  # reported after the settlement (recovery found it)
        # -0.80 - 0.01 paid, 2.00 paid out at once: the market holds nothing
        assert ledger.cash()[P] == _usd("15.19") and ledger.positions() == {}
        pnl = ledger.pnl()
        assert pnl.realised_by_day == (
            ("2026-12-05", _usd("0")),
            ("2026-12-06", _usd("14.00")),
            ("2026-12-07", _usd("1.19")),
        )
        ledger.record_fill(dataclasses.replace(late, status=FillStatus.FAILED), now_ms=DAY3)
        assert ledger.cash()[P] == _usd("14.00") and ledger.positions() == {}
        assert ledger.pnl().realised_usd == _usd("14.00")


def test_pnl_refuses_a_ledger_whose_positions_contradict_its_fills(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db", synchronous="NORMAL") as ledger:
        ledger.record_fill(_fill("a", K, "KX-A", Side.YES, Action.BUY, "0.30", "3", "0"), now_ms=DAY1)
        ledger._conn.execute("UPDATE positions SET size_micro = 5000000")
        with pytest.raises(LedgerError, match="differ from the fills"):
            ledger.pnl()


# ---- property -----------------------------------------------------------------------------------

_KEYS = ((K, "KX-A", Side.YES), (K, "KX-A", Side.NO), (P, "0xpm", Side.YES), (K, "KX-B", Side.NO))


@dataclass(frozen=True)
class _Trade:
    key: int
    buy: bool
    price_micro_usd: int
    size_micro: int
    fee_micro_usd: int
    day: int


_trade = st.builds(
    _Trade,
    key=st.integers(0, len(_KEYS) - 1),
    buy=st.booleans(),
    price_micro_usd=st.integers(1, 999_999),
    size_micro=st.integers(1, 9_000_000),
    fee_micro_usd=st.integers(0, 90_000),
    day=st.integers(0, 2),
)
# an op: a trade, a reversal of an earlier trade, or a settlement of a market
_op = st.one_of(
    st.tuples(st.just("trade"), _trade),
    st.tuples(st.just("reverse"), st.integers(0, 40)),
    st.tuples(st.just("settle"), st.tuples(st.integers(0, 2), st.integers(0, 1_000_000))),
)
_MARKETS = ((K, "KX-A"), (P, "0xpm"), (K, "KX-B"))


@settings(max_examples=150, deadline=None)
@example(  # a short closed by a purchase, a long sold through zero, a failed fill, a settlement
    [
        ("trade", _Trade(0, False, 400_000, 5_000_000, 20_000, 0)),
        ("trade", _Trade(0, True, 300_000, 3_000_000, 10_000, 1)),
        ("trade", _Trade(1, True, 550_000, 2_000_000, 0, 0)),
        ("trade", _Trade(1, False, 600_000, 7_000_000, 30_000, 1)),
        ("trade", _Trade(2, True, 100_000, 1_000_000, 1_000, 0)),
        ("reverse", 4),
        ("settle", (0, 1_000_000)),
        ("trade", _Trade(1, True, 200_000, 1_000_000, 5_000, 2)),
    ],
    [510_000, 480_000, 0, 1_000_000],
)
@example(  # the same without the settlement: the positions stay open at their marks
    [
        ("trade", _Trade(0, False, 400_000, 5_000_000, 20_000, 0)),
        ("trade", _Trade(0, True, 300_000, 3_000_000, 10_000, 1)),
        ("trade", _Trade(1, True, 550_000, 2_000_000, 0, 0)),
        ("trade", _Trade(1, False, 600_000, 7_000_000, 30_000, 1)),
    ],
    [510_000, 480_000, 0, 1_000_000],
)
@given(st.lists(_op, min_size=1, max_size=40), st.lists(st.integers(0, 1_000_000), min_size=4, max_size=4))
def test_realised_plus_unrealised_equals_cash_moved_plus_positions_at_marks(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, object]], marks: list[int]
) -> None:
    path = tmp_path_factory.mktemp("pnl") / "l.db"
    days = (DAY1, DAY2, DAY3)
    with Ledger(path, synchronous="NORMAL") as ledger:
        ledger.set_cash(K, Decimal("123.45"))
        ledger.set_cash(P, Decimal(0))
        opening = ledger.cash()
        trades: list[_Trade] = []
        reversed_: set[int] = set()
        for kind, arg in ops:
            if kind == "trade":
                assert isinstance(arg, _Trade)
                venue, market, outcome = _KEYS[arg.key]
                fill = Fill(
                    venue=venue,
                    fill_id=f"f{len(trades)}",
                    order_id="o",
                    client_order_id=None,
                    market_id=market,
                    book_id=market,
                    outcome=outcome,
                    action=Action.BUY if arg.buy else Action.SELL,
                    price_micro_usd=arg.price_micro_usd,
                    size_micro=arg.size_micro,
                    fee_micro_usd=arg.fee_micro_usd,
                    liquidity=None,
                )
                ledger.record_fill(fill, now_ms=days[arg.day])
                trades.append(arg)
            elif kind == "reverse" and trades:
                assert isinstance(arg, int)
                number = arg % len(trades)
                t = trades[number]
                venue, market, outcome = _KEYS[t.key]
                fill = Fill(
                    venue=venue,
                    fill_id=f"f{number}",
                    order_id="o",
                    client_order_id=None,
                    market_id=market,
                    book_id=market,
                    outcome=outcome,
                    action=Action.BUY if t.buy else Action.SELL,
                    price_micro_usd=t.price_micro_usd,
                    size_micro=t.size_micro,
                    fee_micro_usd=t.fee_micro_usd,
                    liquidity=None,
                    status=FillStatus.FAILED,
                )
                ledger.record_fill(fill, now_ms=DAY3)
                reversed_.add(number)
            elif kind == "settle":
                assert isinstance(arg, tuple)
                market_index, yes = arg
                venue, market = _MARKETS[market_index]
                if ledger.settlement(venue, market) is None:
                    ledger.record_settlement(venue, market, Payout(yes, 1_000_000 - yes), now_ms=DAY3)
        for key, mark in zip(_KEYS, marks, strict=True):
            ledger.record_mark(*key, mark, now_ms=DAY3)

        pnl = ledger.pnl()
        cash_moved = sum(ledger.cash().values(), Decimal(0)) - sum(opening.values(), Decimal(0))
        at_marks = sum(
            (Decimal(size * marks[_KEYS.index(key)]) / 10**12 for key, size in ledger.positions().items()),
            Decimal(0),
        )
        assert pnl.unmarked == ()
        assert pnl.realised_usd + pnl.unrealised_usd == cash_moved + at_marks
        assert sum((amount for _, amount in pnl.realised_by_day), Decimal(0)) == pnl.realised_usd
        standing = [t for n, t in enumerate(trades) if n not in reversed_]
        assert pnl.fees_usd * 10**6 == sum(t.fee_micro_usd for t in standing)
        for position in pnl.positions:
            assert position.size_micro == ledger.positions().get(
                (position.venue, position.market_id, position.outcome), 0
            )
