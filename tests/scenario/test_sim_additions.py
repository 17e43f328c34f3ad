"""What the scenario needed from the simulators: strike metadata on Kalshi markets (ladders and
parlays), a Polymarket market's own rules text, end date and nested event (exhaustive negRisk groups),
and partial fills scripted on chosen books."""

from __future__ import annotations

import pytest

from arb.errors import ConfigError
from arb.venues.kalshi import wire as kalshi_wire
from arb.venues.polymarket import wire as polymarket_wire
from arb.venues.sim.faults import FaultInjector, FaultPlan
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from arb.venues.sim.spec import SimSpec

SCALE = 1_000_000


def _kalshi_spec(**market: object) -> SimSpec:
    return SimSpec.from_dict(
        {
            "kalshi": {
                "series": [{"ticker": "KXETHD"}],
                "events": [{"event_ticker": "KXETHD-26FEB1317", "series_ticker": "KXETHD"}],
                "markets": [{"ticker": "KXETHD-26FEB1317-T1899.99", "event_ticker": "KXETHD-26FEB1317", **market}],
            }
        }
    )


def test_kalshi_strike_metadata_goes_from_the_spec_to_the_market_the_client_decodes() -> None:
    spec = _kalshi_spec(strike_type="greater", floor_strike="1899.99")
    assert spec.kalshi is not None
    sim = KalshiSimulator.from_spec(spec.kalshi)
    body = sim._market_json(sim.markets["KXETHD-26FEB1317-T1899.99"])
    assert body["strike_type"] == "greater" and "custom_strike" not in body
    market = kalshi_wire.decode_market(body)
    assert market.strike is not None and str(market.strike.floor) == "1899.99" and market.strike.cap is None

    legs = {"Associated Markets": "A-1,B-2", "Associated Market Sides": "yes,yes"}
    spec = _kalshi_spec(strike_type="custom", custom_strike=legs)
    assert spec.kalshi is not None
    sim = KalshiSimulator.from_spec(spec.kalshi)
    market = kalshi_wire.decode_market(sim._market_json(sim.markets["KXETHD-26FEB1317-T1899.99"]))
    assert market.strike is not None and dict(market.strike.custom) == legs

    default = KalshiSimulator.from_spec(_kalshi_spec().kalshi)  # type: ignore[arg-type]
    body = default._market_json(default.markets["KXETHD-26FEB1317-T1899.99"])
    assert body["strike_type"] == "custom" and body["custom_strike"] == {"Event": "KXETHD-26FEB1317"}


@pytest.mark.parametrize(
    ("market", "path"),
    [
        ({"custom_strike": {"Associated Markets": 3}}, r"kalshi\.markets\[0\]\.custom_strike\.Associated Markets"),
        ({"floor_strike": "-1"}, r"kalshi\.markets\[0\]\.floor_strike"),
        ({"strike_type": ""}, r"kalshi\.markets\[0\]\.strike_type"),
    ],
)
def test_bad_strike_metadata_is_refused_naming_its_path(market: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError, match=path):
        _kalshi_spec(**market)


def test_a_polymarket_market_serves_its_rules_end_date_and_event_with_the_exhaustiveness_flag() -> None:
    spec = SimSpec.from_dict(
        {
            "polymarket": {
                "markets": [
                    {
                        "condition_id": "0x" + "ab" * 32,
                        "question": "No change?",
                        "yes_token": "11",
                        "no_token": "12",
                        "neg_risk": True,
                        "event_id": "935195",
                        "description": "Resolves Yes if the range is unchanged.",
                        "end_date_ms": 1_734_480_000_000,
                    }
                ]
            }
        }
    )
    assert spec.polymarket is not None
    sim = PolymarketSimulator.from_spec(spec.polymarket, participants=False)
    body = sim.gamma_market_json(spec.polymarket.markets[0])
    assert body["description"] == "Resolves Yes if the range is unchanged."
    assert body["endDate"] == "2024-12-18T00:00:00Z"
    market = polymarket_wire.decode_gamma_market(body)
    assert market.event_id == "935195"
    assert market.group is not None and market.group.exhaustive  # negRiskAugmented false, from the event


def test_scripted_partial_fills_cap_orders_on_the_named_books_only_and_leave_the_seeded_draws_alone() -> None:
    plain, scripted = (
        FaultInjector(FaultPlan(seed=4, partial_fill_fraction=0.5)),
        FaultInjector(FaultPlan(seed=4, partial_fill_fraction=0.5)),
    )
    scripted.partial_fills_on("T1", 0.25)
    assert scripted.partial_fill_limit(8 * SCALE, SCALE, "T1") == 2 * SCALE  # always, at its ratio
    assert scripted.partial_fill_limit(8 * SCALE, SCALE, "T1") == 2 * SCALE
    draws_plain = [plain.partial_fill_limit(10 * SCALE, SCALE, "T2") for _ in range(20)]
    draws_scripted = [scripted.partial_fill_limit(10 * SCALE, SCALE, "T2") for _ in range(20)]
    assert draws_plain == draws_scripted  # other books: the plan's seeded draws, unchanged
    scripted.clear_partial_fills("T1")
    quiet = FaultInjector()
    quiet.partial_fills_on("T1", 0.5)
    assert quiet.partial_fill_limit(3 * SCALE, SCALE, "T1") == SCALE
    assert quiet.partial_fill_limit(3 * SCALE, SCALE, "T2") is None
    quiet.clear_partial_fills()
    assert quiet.partial_fill_limit(3 * SCALE, SCALE, "T1") is None
    with pytest.raises(ConfigError, match="partial fill ratio"):
        quiet.partial_fills_on("T1", 1.5)
