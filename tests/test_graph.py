"""The market graph: exclusive groups from real and venue-shaped fixtures, their
degradation rules, strike and title ladders (checked against the values they describe),
conjunctions from the real Kalshi multivariate capture, curated links, listings, component
stability and the partition property."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import random
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arb.domain import (
    EventInfo,
    GroupInfo,
    GroupKind,
    MarketInfo,
    MarketStatus,
    PriceBand,
    SeriesInfo,
    StrikeInfo,
    Venue,
)
from arb.errors import ConfigError
from arb.exhaustive_series import ExhaustiveSeries, load_exhaustive_series
from arb.graph import (
    Component,
    ExclusionKind,
    GraphConfig,
    MarketGraph,
    build_graph,
    component_id,
    contract_id,
    parse_threshold_title,
)
from arb.links import CuratedLink, Orientation, SettlementRisk, link_from_markets
from arb.venues.kalshi import wire as kalshi_wire
from arb.venues.polymarket import wire as polymarket_wire
from solvers import (
    AtMostOne,
    CandidateSet,
    Conjunction,
    Contract,
    Equivalent,
    ExactlyOne,
    Implies,
    Side,
    kalshi_fee,
    polymarket_fee,
)
from solvers.problem import relation_contracts
from tests.fixtures.cross_venue import fomc_2024

ROOT = Path(__file__).resolve().parent.parent
VENUES = ROOT / "tests" / "fixtures" / "venues"
FOMC = ROOT / "tests" / "fixtures" / "cross_venue" / "fomc_2024"
NAUTILUS_EVENT = VENUES / "polymarket" / "rest" / "nautilus_gamma_event.json"
MVE = VENUES / "kalshi" / "rest" / "drmanhattan_markets_mve_2026-06.json"

CLOSE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
K, P = Venue.KALSHI, Venue.POLYMARKET
# The repository's curated list, as a deployment loads it; and one naming the test events' series.
REPO_CONFIG = GraphConfig(exhaustive_kalshi_series=load_exhaustive_series(ROOT / "config" / "exhaustive_series.toml"))
CURATED = GraphConfig(
    exhaustive_kalshi_series=(ExhaustiveSeries("SER", "test events list every outcome", "tests", dt.date(2026, 12, 6)),)
)


def market(
    market_id: str,
    *,
    venue: Venue = K,
    event_id: str = "EV",
    title: str = "",
    subtitle: str = "",
    status: MarketStatus = MarketStatus.OPEN,
    close_time_ms: int | None = CLOSE_MS,
    group: GroupInfo | None = None,
    strike: StrikeInfo | None = None,
    series_id: str = "",
    venue_market_id: str = "",
    rules_text: str = "Resolves Yes if it happens.",
) -> MarketInfo:
    kalshi = venue is K
    return MarketInfo(
        venue=venue,
        market_id=market_id,
        event_id=event_id,
        title=title or market_id,
        subtitle=subtitle,
        rules_text=rules_text,
        status=status,
        open_time_ms=None,
        close_time_ms=close_time_ms,
        expiration_time_ms=None,
        price_bands=(PriceBand(0, 1_000_000, 10_000),) if kalshi else (PriceBand(1_000, 999_000, 1_000),),
        min_order_size_micro=1_000_000 if kalshi else 5_000_000,
        fractional=not kalshi,
        lot_size_micro=1_000_000 if kalshi else 10_000,
        taker_fee=kalshi_fee() if kalshi else polymarket_fee(rate=Decimal("0.04")),
        maker_fee=kalshi_fee(maker=True) if kalshi else polymarket_fee(rate=Decimal("0.04"), maker=True),
        series_id=series_id,
        group=group,
        strike=strike,
        token_ids=None if kalshi else (f"{market_id}-yes", f"{market_id}-no"),
        accepting_orders=status is MarketStatus.OPEN,
        venue_market_id=venue_market_id,
    )


def kalshi_event(
    event_id: str, markets: list[MarketInfo], *, exclusive: bool = True, market_ids: tuple[str, ...] | None = None
) -> EventInfo:
    group = GroupInfo(event_id, GroupKind.MUTUALLY_EXCLUSIVE, exhaustive=True) if exclusive else None
    return EventInfo(
        K,
        event_id,
        event_id,
        "SER",
        group,
        market_ids if market_ids is not None else tuple(m.market_id for m in markets),
        tuple(markets),
    )


def exclusive_members(event_id: str, n: int, **kwargs: Any) -> list[MarketInfo]:
    group = GroupInfo(event_id, GroupKind.MUTUALLY_EXCLUSIVE, exhaustive=True)
    return [
        market(f"{event_id}-{i}", event_id=event_id, group=dataclasses.replace(group, label=f"outcome {i}"), **kwargs)
        for i in range(n)
    ]


def kinds(graph: MarketGraph) -> set[ExclusionKind]:
    return {e.kind for e in graph.excluded}


def group_relations(graph: MarketGraph) -> list[ExactlyOne | AtMostOne]:
    return [r for r in graph.relations if isinstance(r, ExactlyOne | AtMostOne)]


def cid(market_id: str, venue: Venue = K) -> str:
    return contract_id(venue, market_id)


# -- real and venue-shaped fixtures -------------------------------------------------------------------


def test_augmented_negrisk_capture_is_at_most_one_never_exactly_one() -> None:
    raw = json.loads(NAUTILUS_EVENT.read_bytes())
    (event,) = polymarket_wire.decode_gamma_events(raw)
    assert event.group is not None and event.group.augmented
    graph = build_graph((), [event])
    (relation,) = graph.relations
    assert type(relation) is AtMostOne  # not its exactly-one sibling
    assert sorted(relation.contracts) == sorted(cid(m, P) for m in event.market_ids) and len(relation.contracts) == 2
    assert ExclusionKind.GROUP_AUGMENTED in kinds(graph)
    (component,) = graph.components
    assert component.relations == (relation,) and len(component.listings) == 4


def test_the_same_capture_with_augmentation_off_is_exactly_one() -> None:
    raw = json.loads(NAUTILUS_EVENT.read_bytes())
    assert raw[0]["negRiskAugmented"] is True
    raw[0]["negRiskAugmented"] = False  # the only change to the captured bytes
    (event,) = polymarket_wire.decode_gamma_events(raw)
    graph = build_graph((), [event])
    (relation,) = graph.relations
    assert isinstance(relation, ExactlyOne) and len(relation.contracts) == 2
    assert graph.excluded == ()


def test_negrisk_other_member_makes_the_group_at_most_one() -> None:
    raw = json.loads(NAUTILUS_EVENT.read_bytes())
    raw[0]["negRiskAugmented"] = False
    raw[0]["markets"][1]["negRiskOther"] = True  # the placeholder flag on one market
    (event,) = polymarket_wire.decode_gamma_events(raw)
    graph = build_graph((), [event])
    assert [type(r) for r in graph.relations] == [AtMostOne]
    assert ExclusionKind.GROUP_AUGMENTED in kinds(graph)


def test_polymarket_markets_without_their_event_are_at_most_one() -> None:
    raw = json.loads(NAUTILUS_EVENT.read_bytes())
    raw[0]["negRiskAugmented"] = False
    markets = [polymarket_wire.decode_gamma_market(m, event=raw[0]) for m in raw[0]["markets"]]
    assert all(m.group is not None and m.group.exhaustive for m in markets)
    graph = build_graph(markets)
    assert [type(r) for r in graph.relations] == [AtMostOne]
    assert ExclusionKind.GROUP_MEMBERSHIP_UNKNOWN in kinds(graph)
    trusting = build_graph(markets, config=GraphConfig(require_known_membership=False))
    assert [type(r) for r in trusting.relations] == [ExactlyOne]


def _fomc_events() -> tuple[list[EventInfo], list[EventInfo]]:
    return fomc_2024.kalshi_events(), fomc_2024.polymarket_events()


def test_fomc_meetings_are_exactly_one_groups_on_both_venues() -> None:
    """Kalshi's Fed decision events by the curated list (their markets carry no strikes to prove it
    from), Polymarket's by the venue's own `negRiskAugmented: false`."""
    kalshi, polymarket = _fomc_events()
    assert len(kalshi) == 6 and len(polymarket) == 6
    assert all(m.strike is None for e in kalshi for m in e.markets)
    graph = build_graph((), [*kalshi, *polymarket], config=REPO_CONFIG)
    groups = group_relations(graph)
    assert all(isinstance(r, ExactlyOne) for r in groups)
    by_event = {frozenset(r.contracts): r for r in groups}
    for event in kalshi:
        assert frozenset(cid(m) for m in event.market_ids) in by_event and len(event.market_ids) == 5
    for event in polymarket:
        assert frozenset(cid(m, P) for m in event.market_ids) in by_event and len(event.market_ids) == 4
    assert sorted(len(c.contracts) for c in graph.components) == [4] * 6 + [5] * 6
    assert graph.excluded == ()
    for component in graph.components:
        assert len(component.listings) == 2 * len(component.contracts)


def _fomc_links(settlement_risk: SettlementRisk = SettlementRisk.MINOR_DIFFERENCES) -> list[CuratedLink]:
    kalshi, polymarket = _fomc_events()
    k_markets = {m.market_id: m for e in kalshi for m in e.markets}
    p_markets = {m.venue_market_id: m for e in polymarket for m in e.markets}
    links = []
    for pair in json.loads((FOMC / "expected_pairs.json").read_bytes())["pairs"]:
        k, p = k_markets[pair["kalshi"]], p_markets[pair["polymarket"]]
        links.append(_link(k, p, orientation=Orientation(pair["orientation"]), settlement_risk=settlement_risk))
    return links


def _link(k: MarketInfo, p: MarketInfo, **overrides: Any) -> CuratedLink:
    link = link_from_markets(
        k,
        p,
        orientation=Orientation.SAME,
        settlement_risk=SettlementRisk.IDENTICAL_RULES,
        approved_by="reviewer",
        approved_at=dt.date(2024, 4, 30),
    )
    return dataclasses.replace(link, **overrides)


def test_fomc_links_join_each_meeting_into_one_candidate_set() -> None:
    kalshi, polymarket = _fomc_events()
    links = _fomc_links()
    graph = build_graph((), [*kalshi, *polymarket], links, config=REPO_CONFIG)
    assert len(graph.components) == 6
    for component in graph.components:
        assert len(component.contracts) == 9
        assert sorted(type(r).__name__ for r in component.relations) == ["Equivalent"] * 3 + ["ExactlyOne"] * 2
        assert all(r.settlement_risk and not r.inverted for r in component.relations if isinstance(r, Equivalent))
    # every Kalshi and Polymarket market of one meeting shares a component id
    for event in kalshi:
        assert len({graph.component_of(K, m) for m in event.market_ids}) == 1
    # and the components convert to solver candidate sets
    for component in graph.components:
        CandidateSet(component.id, tuple(Contract(c) for c in component.contracts), (), component.relations)


# -- groups: degradation -----------------------------------------------------------------------------


def test_kalshi_exclusive_event_is_exactly_one_when_complete_open_and_curated() -> None:
    members = exclusive_members("E1", 3)
    graph = build_graph(members, [kalshi_event("E1", members)], config=CURATED)
    assert graph.relations == (ExactlyOne(tuple(cid(m.market_id) for m in members)),)


def test_a_missing_member_degrades_to_at_most_one_over_the_present() -> None:
    members = exclusive_members("E1", 4)
    event = kalshi_event("E1", [])  # no nested markets, only the list of ids
    event = dataclasses.replace(event, market_ids=tuple(m.market_id for m in members))
    graph = build_graph(members[:3], [event])
    assert graph.relations == (AtMostOne(tuple(cid(m.market_id) for m in members[:3])),)
    (exclusion,) = graph.exclusions(ExclusionKind.GROUP_INCOMPLETE)
    assert exclusion.subject == "kalshi:group:E1" and "absent kalshi:E1-3" in exclusion.reason


def test_a_closed_member_is_not_a_node_and_degrades_the_group() -> None:
    members = exclusive_members("E1", 3)
    members[1] = dataclasses.replace(members[1], status=MarketStatus.SETTLED, accepting_orders=False)
    graph = build_graph(members, [kalshi_event("E1", members)])
    assert cid("E1-1") not in graph.graph and graph.component_of(K, "E1-1") is None
    assert graph.relations == (AtMostOne((cid("E1-0"), cid("E1-2"))),)
    assert {ExclusionKind.MARKET_CLOSED, ExclusionKind.GROUP_INCOMPLETE} <= kinds(graph)
    assert "closed/dropped kalshi:E1-1" in graph.exclusions(ExclusionKind.GROUP_INCOMPLETE)[0].reason


def test_a_price_outside_every_band_has_no_tick_and_raises_a_config_error() -> None:
    polymarket = market("0xa", venue=P)  # one band, $0.001 to $0.999
    assert polymarket.tick_at(1_000) == polymarket.tick_at(999_000) == 1_000
    for price in (0, 999_001):
        with pytest.raises(ConfigError, match=f"0xa: price {price} is outside every price band"):
            polymarket.tick_at(price)


def test_a_paused_member_stays_a_node_without_listings() -> None:
    members = exclusive_members("E1", 3)
    members[2] = dataclasses.replace(members[2], status=MarketStatus.PAUSED, accepting_orders=False)
    graph = build_graph(members, [kalshi_event("E1", members)], config=CURATED)
    (component,) = graph.components
    assert component.relations == (ExactlyOne(tuple(cid(m.market_id) for m in members)),)
    assert {listing.contract for listing in component.listings} == {cid("E1-0"), cid("E1-1")}
    assert graph.exclusions(ExclusionKind.MARKET_NOT_TRADABLE)[0].subject == cid("E1-2")


@pytest.mark.parametrize(
    "label", ["Other", "others", "Any other", "Someone else", "None of the above", "Field", "Person B"]
)
def test_a_placeholder_member_makes_the_group_at_most_one(label: str) -> None:
    members = exclusive_members("E1", 3)
    members[2] = dataclasses.replace(members[2], subtitle=label)
    graph = build_graph(members, [kalshi_event("E1", members)], config=CURATED)
    assert [type(r) for r in graph.relations] == [AtMostOne]
    assert ExclusionKind.GROUP_PLACEHOLDER in kinds(graph)


@pytest.mark.parametrize("label", ["Otherton", "Gretchen Whitmer", "Hike 25bps", "Other party nominee wins"])
def test_ordinary_labels_are_not_placeholders(label: str) -> None:
    members = exclusive_members("E1", 3)
    group = members[2].group
    assert group is not None
    members[2] = dataclasses.replace(members[2], subtitle=label, group=dataclasses.replace(group, label=label))
    graph = build_graph(members, [kalshi_event("E1", members)], config=CURATED)
    assert [type(r) for r in graph.relations] == [ExactlyOne]


def test_a_market_claiming_a_group_its_event_does_not_list_degrades_it() -> None:
    members = exclusive_members("E1", 3)
    event = kalshi_event("E1", members[:2], market_ids=tuple(m.market_id for m in members[:2]))
    graph = build_graph(members, [event])
    assert graph.relations == (AtMostOne(tuple(cid(m.market_id) for m in members)),)
    assert ExclusionKind.GROUP_MEMBERSHIP_MISMATCH in kinds(graph)


def test_a_group_with_one_member_left_has_no_relation() -> None:
    members = exclusive_members("E1", 2)
    members[0] = dataclasses.replace(members[0], status=MarketStatus.CLOSED, accepting_orders=False)
    graph = build_graph(members, [kalshi_event("E1", members)])
    assert graph.relations == () and ExclusionKind.GROUP_TOO_SMALL in kinds(graph)
    assert [c.contracts for c in graph.components] == [(cid("E1-1"),)]


# -- Kalshi exhaustiveness: proven by a strike partition or a curated series, else at-most-one ---------


def _names_event(series: str = "KXAWARD") -> list[MarketInfo]:
    """Eight person-name markets of one `mutually_exclusive` event, no "Other", decoded from the
    venue's event shape: exclusive, but an unlisted winner resolves every market NO."""
    names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra"]
    names += ["Barbara Liskov", "Donald Knuth", "Frances Allen", "John Backus"]
    markets = [
        {
            "ticker": f"{series}-26-{i}",
            "event_ticker": f"{series}-26",
            "title": "Who will win the X award?",
            "yes_sub_title": name,
            "status": "active",
            "close_time": "2026-12-31T00:00:00Z",
        }
        for i, name in enumerate(names)
    ]
    body = {"event_ticker": f"{series}-26", "series_ticker": series, "mutually_exclusive": True, "markets": markets}
    fees = SeriesInfo(series, "X award", "quadratic", Decimal(1))
    return list(kalshi_wire.decode_event(body, series=fees).markets)


def _names_graph(config: GraphConfig | None = None) -> MarketGraph:
    markets = _names_event()
    event = kalshi_event("KXAWARD-26", markets)
    return build_graph(markets, [dataclasses.replace(event, series_id="KXAWARD")], config=config or GraphConfig())


def test_a_kalshi_exclusive_event_of_names_is_at_most_one_with_the_reason() -> None:
    markets = _names_event()
    assert markets[0].group is not None and not markets[0].group.exhaustive  # the venue says exclusive only
    graph = _names_graph()
    (relation,) = graph.relations
    assert type(relation) is AtMostOne and len(relation.contracts) == 8
    (unproven,) = graph.exclusions(ExclusionKind.GROUP_UNPROVEN)
    assert unproven.subject == "kalshi:group:KXAWARD-26"
    assert "no strike metadata" in unproven.reason and "KXAWARD not on the curated exhaustive list" in unproven.reason


def test_a_curated_series_is_exactly_one() -> None:
    entry = ExhaustiveSeries("KXAWARD", "the award always goes to a listed nominee", "reviewer", dt.date(2026, 12, 6))
    graph = _names_graph(GraphConfig(exhaustive_kalshi_series=(entry,)))
    assert [type(r) for r in graph.relations] == [ExactlyOne] and graph.excluded == ()
    other = ExhaustiveSeries("KXOTHER", "another series", "reviewer", dt.date(2026, 12, 6))
    assert [type(r) for r in _names_graph(GraphConfig(exhaustive_kalshi_series=(other,))).relations] == [AtMostOne]


def test_a_group_naming_a_series_off_the_list_is_not_curated() -> None:
    members = exclusive_members("E1", 3)
    members[0] = dataclasses.replace(members[0], series_id="UNLISTED")  # the event says SER, one market another
    graph = build_graph(members, [kalshi_event("E1", members)], config=CURATED)
    assert [type(r) for r in graph.relations] == [AtMostOne]
    assert "SER, UNLISTED not on the curated" in graph.exclusions(ExclusionKind.GROUP_UNPROVEN)[0].reason


def test_graph_config_rejects_a_curated_list_that_is_not_entries() -> None:
    with pytest.raises(ConfigError, match="exhaustive_kalshi_series"):
        GraphConfig(exhaustive_kalshi_series=frozenset({"KXFEDDECISION"}))  # type: ignore[arg-type]  # the misuse under test


def _strike_event(event_id: str, strikes: list[StrikeInfo]) -> tuple[list[MarketInfo], EventInfo]:
    group = GroupInfo(event_id, GroupKind.MUTUALLY_EXCLUSIVE, exhaustive=False)
    members = [market(f"{event_id}-{i}", event_id=event_id, group=group, strike=s) for i, s in enumerate(strikes)]
    return members, kalshi_event(event_id, members)


D = Decimal


def test_a_strike_partition_is_exactly_one() -> None:
    """Decoded from Kalshi market objects: "below 3%" with "3% or above", and "at most 3%" with
    "above 3%": every value in exactly one, whatever it is."""
    for low, high in (("less", "greater_or_equal"), ("less_or_equal", "greater")):
        raw = [
            {"ticker": "KXRATE-26-LO", "strike_type": low, "cap_strike": 3},
            {"ticker": "KXRATE-26-HI", "strike_type": high, "floor_strike": 3.0},
        ]
        body = {
            "event_ticker": "KXRATE-26",
            "series_ticker": "KXRATE",
            "mutually_exclusive": True,
            "markets": [{**m, "event_ticker": "KXRATE-26", "status": "active"} for m in raw],
        }
        event = kalshi_wire.decode_event(body, series=SeriesInfo("KXRATE", "Rate", "quadratic", D(1)))
        graph = build_graph((), [event])
        assert graph.relations == (ExactlyOne((cid("KXRATE-26-HI"), cid("KXRATE-26-LO"))),), (low, high)
        assert graph.excluded == ()


@pytest.mark.parametrize(
    ("strikes", "words"),
    [
        # a gap: (10, 11) is in no market
        ([StrikeInfo("less", cap=D(10)), StrikeInfo("greater_or_equal", floor=D(11))], "gap between"),
        # a gap of one point: 10 is in neither
        ([StrikeInfo("less", cap=D(10)), StrikeInfo("greater", floor=D(10))], "10 is in neither of"),
        # no lower tail: values under 10 are in no market
        (
            [StrikeInfo("between", D(10), D(20)), StrikeInfo("greater", floor=D(20))],
            "no member is unbounded below",
        ),
        # no upper tail
        (
            [StrikeInfo("less", cap=D(10)), StrikeInfo("between", D(10), D(20))],
            "no member is unbounded above",
        ),
        # whole buckets, touching: whether a "between" bound includes its value is not stated by Kalshi
        (
            [
                StrikeInfo("less", cap=D(10)),
                StrikeInfo("between", D(10), D(20)),
                StrikeInfo("greater", floor=D(20)),
            ],
            "is not stated",
        ),
        # buckets in whole units (Kalshi's temperature and index style): gaps on the real line
        (
            [
                StrikeInfo("less", cap=D(10)),
                StrikeInfo("between", D(10), D(19)),
                StrikeInfo("between", D(20), D(29)),
                StrikeInfo("greater", floor=D(29)),
            ],
            "kalshi:E1-1 includes 10 is not stated",  # the first doubt found; (19, 20) is a gap too
        ),
        # a type the proof does not read
        ([StrikeInfo("less", cap=D(10)), StrikeInfo("custom")], "not a numeric range"),
    ],
)
def test_strikes_with_a_gap_doubt_or_missing_tail_are_at_most_one_with_the_reason(
    strikes: list[StrikeInfo], words: str
) -> None:
    members, event = _strike_event("E1", strikes)
    graph = build_graph(members, [event])
    assert [type(r) for r in group_relations(graph)] == [AtMostOne]
    (uncovered,) = graph.exclusions(ExclusionKind.GROUP_STRIKES_UNCOVERED)
    assert uncovered.subject == "kalshi:group:E1" and words in uncovered.reason
    assert "SER not on the curated exhaustive list" in uncovered.reason


@pytest.mark.parametrize(
    "strikes",
    [
        [StrikeInfo("less_or_equal", cap=D(10)), StrikeInfo("greater_or_equal", floor=D(10))],  # both hold at 10
        [StrikeInfo("less", cap=D(20)), StrikeInfo("greater", floor=D(10))],  # both hold on (10, 20)
    ],
)
def test_overlapping_strikes_drop_the_group_even_at_a_single_point(strikes: list[StrikeInfo]) -> None:
    """Overlap is stronger than a missing proof: two members can both resolve YES, so even
    at-most-one would be false. No group relation at all."""
    members, event = _strike_event("E1", strikes)
    graph = build_graph(members, [event], config=CURATED)
    assert group_relations(graph) == [] and ExclusionKind.GROUP_CONFLICT in kinds(graph)


def test_a_curated_series_does_not_excuse_a_missing_tail() -> None:
    members, event = _strike_event("E1", [StrikeInfo("between", D(lo), D(lo + 9)) for lo in (10, 20, 30)])
    graph = build_graph(members, [event], config=CURATED)
    assert [type(r) for r in group_relations(graph)] == [AtMostOne]
    assert "lack a tail" in graph.exclusions(ExclusionKind.GROUP_STRIKES_UNCOVERED)[0].reason


def _yes(strike: StrikeInfo, value: Fraction, between_closed: tuple[bool, bool]) -> bool:
    """Independent reading of a strike: does `value` resolve it YES? `between_closed` picks one
    reading of a "between" bucket's unstated bounds."""
    floor = None if strike.floor is None else Fraction(strike.floor)
    cap = None if strike.cap is None else Fraction(strike.cap)
    if strike.strike_type == "greater":
        return floor is not None and value > floor
    if strike.strike_type == "greater_or_equal":
        return floor is not None and value >= floor
    if strike.strike_type == "less":
        return cap is not None and value < cap
    if strike.strike_type == "less_or_equal":
        return cap is not None and value <= cap
    assert strike.strike_type == "between" and floor is not None and cap is not None
    above = value >= floor if between_closed[0] else value > floor
    below = value <= cap if between_closed[1] else value < cap
    return above and below


_STRIKE = st.one_of(
    st.builds(lambda k: StrikeInfo("greater", floor=D(k)), st.integers(0, 6)),
    st.builds(lambda k: StrikeInfo("greater_or_equal", floor=D(k)), st.integers(0, 6)),
    st.builds(lambda k: StrikeInfo("less", cap=D(k)), st.integers(0, 6)),
    st.builds(lambda k: StrikeInfo("less_or_equal", cap=D(k)), st.integers(0, 6)),
    st.builds(lambda a, w: StrikeInfo("between", D(a), D(a + w)), st.integers(0, 5), st.integers(1, 2)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_STRIKE, min_size=2, max_size=5))
def test_exactly_one_from_strikes_holds_at_every_value_under_every_reading(strikes: list[StrikeInfo]) -> None:
    """Whenever the graph calls an uncurated Kalshi strike group exactly-one, every value of the line
    (each strike, each midpoint, beyond both ends) resolves exactly one member YES, for every reading
    of "between" bounds Kalshi leaves unstated. Checked by the independent `_yes` above."""
    members, event = _strike_event("E1", strikes)
    relations = group_relations(build_graph(members, [event]))
    if not relations or not isinstance(relations[0], ExactlyOne):
        return
    points = sorted({Fraction(b) for s in strikes for b in (s.floor, s.cap) if b is not None})
    values = [points[0] - 1, points[-1] + 1, *points] + [(x + y) / 2 for x, y in itertools.pairwise(points)]
    for reading in ((False, False), (False, True), (True, False), (True, True)):
        for value in values:
            assert sum(_yes(s, value, reading) for s in strikes) == 1, (strikes, value, reading)


def test_some_random_strike_sets_are_proven() -> None:
    """The property above is not vacuous: the generator reaches proven partitions."""
    proven = 0
    rng = random.Random(3)
    for _ in range(300):
        k = rng.randrange(7)
        low = rng.choice([StrikeInfo("less", cap=D(k)), StrikeInfo("less_or_equal", cap=D(k))])
        high = rng.choice([StrikeInfo("greater", floor=D(k)), StrikeInfo("greater_or_equal", floor=D(k))])
        members, event = _strike_event("E1", [low, high])
        relations = group_relations(build_graph(members, [event]))
        proven += isinstance(relations[0], ExactlyOne) if relations else 0
    assert 50 < proven < 300


def test_members_whose_strikes_overlap_drop_the_group() -> None:
    group = GroupInfo("E1", GroupKind.MUTUALLY_EXCLUSIVE, exhaustive=True)
    members = [
        market(f"E1-{k}", event_id="E1", group=group, strike=StrikeInfo("greater", floor=Decimal(k))) for k in (1, 2, 3)
    ]
    graph = build_graph(members, [kalshi_event("E1", members)])
    assert graph.relations == ()  # neither the group nor the ladder: the metadata contradicts itself
    assert ExclusionKind.GROUP_CONFLICT in kinds(graph)


# -- ladders -------------------------------------------------------------------------------------------


def test_greater_strikes_chain_from_the_highest_floor_down() -> None:
    markets = [market(f"T{k}", strike=StrikeInfo("greater", floor=Decimal(k))) for k in (300, 100, 200)]
    graph = build_graph(markets)
    assert graph.relations == (Implies(cid("T200"), cid("T100")), Implies(cid("T300"), cid("T200")))
    assert len(graph.components) == 1


def test_less_strikes_chain_from_the_lowest_cap_up() -> None:
    markets = [market(f"L{k}", strike=StrikeInfo("less_or_equal", cap=Decimal(k))) for k in (5, 1, 3)]
    graph = build_graph(markets)
    assert graph.relations == (Implies(cid("L1"), cid("L3")), Implies(cid("L3"), cid("L5")))


def test_open_and_closed_thresholds_at_one_strike_order_correctly() -> None:
    markets = [
        market("GT", strike=StrikeInfo("greater", floor=Decimal(100))),
        market("GE", strike=StrikeInfo("greater_or_equal", floor=Decimal(100))),
    ]
    assert build_graph(markets).relations == (Implies(cid("GT"), cid("GE")),)
    same = [
        market("A", strike=StrikeInfo("greater", floor=Decimal(7))),
        market("B", strike=StrikeInfo("greater", floor=Decimal(7))),
    ]
    assert set(build_graph(same).relations) == {Implies(cid("A"), cid("B")), Implies(cid("B"), cid("A"))}


def test_between_buckets_are_at_most_one_and_imply_the_thresholds_around_them() -> None:
    buckets = [market(f"B{lo}", strike=StrikeInfo("between", Decimal(lo), Decimal(lo + 9))) for lo in (10, 20, 30)]
    thresholds = [
        market("GT15", strike=StrikeInfo("greater", floor=Decimal(15))),
        market("LT40", strike=StrikeInfo("less", cap=Decimal(40))),
    ]
    graph = build_graph([*buckets, *thresholds])
    relations = set(graph.relations)
    assert AtMostOne((cid("B10"), cid("B20"), cid("B30"))) in relations
    assert {Implies(cid("B20"), cid("GT15")), Implies(cid("B30"), cid("GT15"))} <= relations
    assert Implies(cid("B10"), cid("GT15")) not in relations  # 10..19 is not above 15
    assert {Implies(cid(f"B{lo}"), cid("LT40")) for lo in (10, 20, 30)} <= relations


def test_overlapping_or_touching_buckets_get_no_exclusivity() -> None:
    for lo, hi in ((20, 30), (15, 25)):  # touching at 20 (both YES if bounds are closed), overlapping
        buckets = [
            market("B1", strike=StrikeInfo("between", Decimal(10), Decimal(20))),
            market("B2", strike=StrikeInfo("between", Decimal(lo), Decimal(hi))),
        ]
        graph = build_graph(buckets)
        assert graph.relations == () and ExclusionKind.LADDER_OVERLAP in kinds(graph)


def test_ladders_need_one_event_and_one_close_time() -> None:
    a = market("A", strike=StrikeInfo("greater", floor=Decimal(1)))
    assert (
        build_graph(
            [a, market("B", strike=StrikeInfo("greater", floor=Decimal(2)), close_time_ms=CLOSE_MS + 3_600_000)]
        ).relations
        == ()
    )
    assert (
        build_graph([a, market("B", event_id="OTHER", strike=StrikeInfo("greater", floor=Decimal(2)))]).relations == ()
    )
    assert build_graph([a, market("B", strike=StrikeInfo("custom"))]).relations == ()


_STRIKE_TYPES = ("greater", "greater_or_equal", "less", "less_or_equal", "between")


@st.composite
def strike_markets(draw: st.DrawFn) -> list[MarketInfo]:
    out = []
    for i in range(draw(st.integers(2, 7))):
        kind = draw(st.sampled_from(_STRIKE_TYPES))
        a, b = sorted(draw(st.lists(st.integers(0, 6), min_size=2, max_size=2)))  # a small range: bounds often touch
        strike = (
            StrikeInfo(kind, floor=Decimal(a), cap=Decimal(b) if kind == "between" else None)
            if kind.startswith("greater") or kind == "between"
            else StrikeInfo(kind, cap=Decimal(b))
        )
        out.append(market(f"S{i}", strike=strike))
    return out


def _strike_yes(strike: StrikeInfo | None, x: Decimal, bucket_reading: str) -> bool:
    """Does `x` resolve the strike YES under one reading of a "between" bucket's bounds?"""
    assert strike is not None
    floor, cap = strike.floor, strike.cap
    match strike.strike_type:
        case "greater":
            return floor is not None and x > floor
        case "greater_or_equal":
            return floor is not None and x >= floor
        case "less":
            return cap is not None and x < cap
        case "less_or_equal":
            return cap is not None and x <= cap
    assert floor is not None and cap is not None
    lo_ok = x >= floor if bucket_reading in ("closed", "right-open") else x > floor
    hi_ok = x <= cap if bucket_reading in ("closed", "left-open") else x < cap
    return lo_ok and hi_ok


def _holds(relation, z: dict[str, bool]) -> bool:
    match relation:
        case ExactlyOne(contracts):
            return sum(z[c] for c in contracts) == 1
        case AtMostOne(contracts):
            return sum(z[c] for c in contracts) <= 1
        case Implies(a, b):
            return not z[a] or z[b]
        case Equivalent(a, b, inverted, _):
            return z[a] != z[b] if inverted else z[a] == z[b]
        case Conjunction(result, operands):
            return z[result] == all(z[o] for o in operands)
    raise AssertionError(relation)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(strike_markets())
def test_strike_relations_hold_for_every_value_and_every_bucket_reading(markets: list[MarketInfo]) -> None:
    """Whatever the underlying value, and whether the venue's bucket bounds are closed or open,
    every relation the graph derives from strikes is true."""
    graph = build_graph(markets)
    points = [Decimal(n) / 2 for n in range(-2, 15)]
    for reading in ("closed", "open", "left-open", "right-open"):
        for x in points:
            z = {cid(m.market_id): _strike_yes(m.strike, x, reading) for m in markets}
            for relation in graph.relations:
                assert _holds(relation, z), (relation, x, reading)


# -- title ladders -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Bitcoin above 64,000 on March 11?", ("bitcoin <lower> on march 11?", "", Decimal(64000), True, False)),
        (
            "Will Bitcoin be above $64,000 on March 11, 2026?",
            ("will bitcoin be <lower> on march 11, 2026?", "$", Decimal(64000), True, False),
        ),
        (
            "Will ETH reach $3.5k or more by Friday?",
            ("will eth reach <lower> by friday?", "$k", Decimal(3500), True, True),
        ),
        ("Inflation below 2.5% in 2025?", ("inflation <upper> in 2025?", "%", Decimal("2.5"), False, False)),
        ("At least 10 named storms?", ("<lower> named storms?", "", Decimal(10), True, True)),
        (
            "Fed decreases interest rates by 50+ bps after May 2024 meeting?",
            ("fed decreases interest rates by <lower> bps after may 2024 meeting?", "", Decimal(50), True, True),
        ),
        ("Fed decreases interest rates by 25 bps after May 2024 meeting?", None),  # a number without a direction
        ("Bitcoin between 60,000 and 62,000?", None),
        ("Above 5 and below 9?", None),  # two thresholds
        ("Over 3 goals in game 7?", None),  # another number
        ("Will Trump win?", None),
        ("Low of -5 or below in Chicago?", None),  # a negative threshold is never read without its sign
    ],
)
def test_threshold_titles_parse_only_when_unambiguous(title: str, expected: object) -> None:
    assert parse_threshold_title(title) == expected


def _btc(market_id: str, title: str, **kwargs: Any) -> MarketInfo:
    return market(market_id, venue=P, event_id="BTC-MAR11", title=title, **kwargs)


def test_title_thresholds_in_one_event_form_a_ladder() -> None:
    markets = [_btc(f"0x{k}", f"Bitcoin above {k},000 on March 11?") for k in (66, 62, 64)]
    graph = build_graph(markets)
    assert graph.relations == (Implies(cid("0x64", P), cid("0x62", P)), Implies(cid("0x66", P), cid("0x64", P)))


def test_title_ladders_stay_conservative() -> None:
    mixed_units = [_btc("0xa", "Bitcoin above 64,000 on March 11?"), _btc("0xb", "Bitcoin above $66,000 on March 11?")]
    assert build_graph(mixed_units).relations == ()
    mixed_scale = [_btc("0xa", "Bitcoin above $640k on March 11?"), _btc("0xb", "Bitcoin above $1m on March 11?")]
    assert build_graph(mixed_scale).relations == ()
    other_words = [_btc("0xa", "Bitcoin above 64,000 on March 11?"), _btc("0xb", "Ethereum above 66,000 on March 11?")]
    assert build_graph(other_words).relations == ()
    repeated = [_btc("0xa", "Bitcoin above 64,000 on March 11?"), _btc("0xb", "Bitcoin above 64,000 on March 11?")]
    assert build_graph(repeated).relations == ()
    other_day = [
        _btc("0xa", "Bitcoin above 64,000 on March 11?"),
        _btc("0xb", "Bitcoin above 66,000 on March 11?", close_time_ms=CLOSE_MS + 1),
    ]
    assert build_graph(other_day).relations == ()
    ladder = [_btc("0xa", "Bitcoin above 64,000 on March 11?"), _btc("0xb", "Bitcoin above 66,000 on March 11?")]
    assert len(build_graph(ladder).relations) == 1
    assert build_graph(ladder, config=GraphConfig(title_ladders=False)).relations == ()


# -- conjunctions (the real Kalshi multivariate capture) -----------------------------------------------


def _custom(m: MarketInfo) -> dict[str, str]:
    assert m.strike is not None
    return dict(m.strike.custom)


def _mve() -> tuple[list[MarketInfo], list[MarketInfo]]:
    combos, _ = kalshi_wire.decode_markets_page(json.loads(MVE.read_bytes()))
    legs = sorted({leg for combo in combos for leg in _custom(combo)["Associated Markets"].split(",")})
    return combos, [market(leg, event_id=leg.rsplit("-", 1)[0]) for leg in legs]


def test_multivariate_combos_become_conjunctions_of_their_legs() -> None:
    combos, legs = _mve()
    graph = build_graph([*combos, *legs])
    conjunctions = [r for r in graph.relations if isinstance(r, Conjunction)]
    assert len(conjunctions) == 5
    raw = {m["ticker"]: m for m in json.loads(MVE.read_bytes())}
    for conjunction in conjunctions:
        ticker = conjunction.result.removeprefix("kalshi:")
        assert sorted(conjunction.operands) == sorted(
            cid(leg["market_ticker"]) for leg in raw[ticker]["mve_selected_legs"]
        )
    for component in graph.components:
        CandidateSet(component.id, tuple(Contract(c) for c in component.contracts), (), component.relations)


def test_combos_with_a_missing_or_no_leg_are_skipped_with_a_reason() -> None:
    combos, legs = _mve()
    graph = build_graph([*combos, *legs[1:]])
    assert len([r for r in graph.relations if isinstance(r, Conjunction)]) == 4
    assert len(graph.exclusions(ExclusionKind.CONJUNCTION_MISSING_LEG)) == 1
    raw = json.loads(MVE.read_bytes())
    sides = raw[0]["custom_strike"]["Associated Market Sides"].split(",")
    raw[0]["custom_strike"]["Associated Market Sides"] = ",".join(["no", *sides[1:]])
    with_no, _ = kalshi_wire.decode_markets_page(raw)
    graph = build_graph([*with_no, *legs])
    assert len([r for r in graph.relations if isinstance(r, Conjunction)]) == 4
    (skipped,) = graph.exclusions(ExclusionKind.CONJUNCTION_NO_LEG)
    assert skipped.subject == cid(raw[0]["ticker"])
    raw[1]["custom_strike"]["Associated Market Sides"] = "yes"
    malformed, _ = kalshi_wire.decode_markets_page(raw)
    assert len(build_graph([*malformed, *legs]).exclusions(ExclusionKind.CONJUNCTION_MALFORMED)) == 1


# -- curated links ---------------------------------------------------------------------------------------


def _pair(**k_changes: Any) -> tuple[MarketInfo, MarketInfo]:
    k = market("KX-A", rules_text="Kalshi rules.", **k_changes)
    p = market("0xa", venue=P, event_id="9", venue_market_id="123", rules_text="Polymarket rules.")
    return k, p


@pytest.mark.parametrize(
    ("risk", "orientation", "expected"),
    [
        (SettlementRisk.IDENTICAL_RULES, Orientation.SAME, Equivalent("kalshi:KX-A", "polymarket:0xa", False, False)),
        (SettlementRisk.MINOR_DIFFERENCES, Orientation.SAME, Equivalent("kalshi:KX-A", "polymarket:0xa", False, True)),
        (
            SettlementRisk.IDENTICAL_RULES,
            Orientation.INVERTED,
            Equivalent("kalshi:KX-A", "polymarket:0xa", True, False),
        ),
    ],
)
def test_a_current_link_is_an_equivalence(risk: SettlementRisk, orientation: Orientation, expected: Equivalent) -> None:
    k, p = _pair()
    graph = build_graph([k, p], links=[_link(k, p, settlement_risk=risk, orientation=orientation)])
    assert graph.relations == (expected,) and len(graph.components) == 1


def test_a_link_by_gamma_id_only_resolves_through_the_market() -> None:
    k, p = _pair()
    graph = build_graph([k, p], links=[_link(k, p, polymarket_condition_id="")])
    assert graph.relations == (Equivalent(cid("KX-A"), cid("0xa", P)),)


def test_different_resolution_source_links_are_excluded_unless_allowed() -> None:
    k, p = _pair()
    link = _link(k, p, settlement_risk=SettlementRisk.DIFFERENT_RESOLUTION_SOURCE)
    graph = build_graph([k, p], links=[link])
    assert graph.relations == () and len(graph.components) == 2
    assert graph.exclusions(ExclusionKind.LINK_DIFFERENT_SOURCE)[0].subject == "link:KX-A~123"
    allowed = build_graph([k, p], links=[link], config=GraphConfig(allow_different_resolution_source=True))
    assert allowed.relations == (Equivalent(cid("KX-A"), cid("0xa", P), False, True),)


def test_stale_links_are_excluded_until_approved_again() -> None:
    k, p = _pair()
    link = _link(k, p)
    for changed_k, changed_p, reason in (
        (dataclasses.replace(k, rules_text="Kalshi rules, amended."), p, "rules changed: kalshi"),
        (k, dataclasses.replace(p, close_time_ms=CLOSE_MS + 86_400_000), "close time changed: polymarket"),
    ):
        graph = build_graph([changed_k, changed_p], links=[link])
        assert graph.relations == ()
        (stale,) = graph.exclusions(ExclusionKind.LINK_STALE)
        assert stale.reason.startswith(reason) and "until approved again" in stale.reason


def test_links_to_unknown_or_closed_markets_are_ignored_with_a_reason() -> None:
    k, p = _pair()
    graph = build_graph([k], links=[_link(k, p)])
    assert (
        graph.relations == ()
        and "polymarket market not in the input" in graph.exclusions(ExclusionKind.LINK_UNKNOWN_MARKET)[0].reason
    )
    closed_k = dataclasses.replace(k, status=MarketStatus.CLOSED, accepting_orders=False)
    graph = build_graph([closed_k, p], links=[_link(closed_k, p)])
    assert graph.relations == () and "is not a node" in graph.exclusions(ExclusionKind.LINK_UNKNOWN_MARKET)[0].reason


def test_an_odd_cycle_of_inversions_excludes_the_whole_class() -> None:
    k1, p1 = market("K1", rules_text="r"), market("0x1", venue=P, venue_market_id="1", rules_text="r")
    k2, p2 = market("K2", rules_text="r"), market("0x2", venue=P, venue_market_id="2", rules_text="r")
    unrelated_k, unrelated_p = _pair()
    links = [
        _link(k1, p1),
        _link(k2, p1),
        _link(k2, p2),
        _link(k1, p2, orientation=Orientation.INVERTED),
        _link(unrelated_k, unrelated_p),
    ]
    graph = build_graph([k1, p1, k2, p2, unrelated_k, unrelated_p], links=links)
    assert graph.relations == (Equivalent(cid("KX-A"), cid("0xa", P)),)
    assert len(graph.exclusions(ExclusionKind.LINK_ORIENTATION_CONFLICT)) == 4
    consistent = [_link(k1, p1), _link(k2, p1), _link(k2, p2), _link(k1, p2)]
    assert len(build_graph([k1, p1, k2, p2], links=consistent).relations) == 4


# -- listings, markets, determinism -------------------------------------------------------------------


def test_listings_carry_fees_lots_increments_and_the_finest_tick() -> None:
    (k,) = kalshi_wire.decode_markets_page({"markets": [json.loads(MVE.read_bytes())[0]]})[0]
    k = kalshi_wire.apply_series(k, SeriesInfo(k.series_id or "KXMVE", "combos", "quadratic", Decimal(1)))
    tapered = dataclasses.replace(k, price_bands=kalshi_wire._STRUCTURES["tapered_deci_cent"])
    p = polymarket_wire.decode_gamma_events(json.loads(NAUTILUS_EVENT.read_bytes()))[0].markets[0]
    graph = build_graph([tapered, p])
    listings = {listing.instrument_id: listing for c in graph.components for listing in c.listings}
    yes = listings[f"{cid(k.market_id)}:yes"]
    assert (yes.side, yes.tick_size_micro, yes.lot_size_micro, yes.min_order_size_micro) == (
        Side.YES,
        1_000,
        10_000,
        10_000,
    )
    assert yes.taker_fee == k.taker_fee and yes.venue is K and yes.market_id == k.market_id
    assert (yes.buy_amount_increment_micro_usd, yes.sell_amount_increment_micro_usd) == (0, 0)  # Kalshi: none
    no = listings[f"{cid(p.market_id, P)}:no"]
    assert (no.side, no.tick_size_micro, no.lot_size_micro, no.min_order_size_micro) == (
        Side.NO,
        1_000,
        10_000,
        5_000_000,
    )
    # Polymarket FOK/FAK: buys sign whole cents, sells 0.0001
    assert (no.buy_amount_increment_micro_usd, no.sell_amount_increment_micro_usd) == (10_000, 100)
    assert len(listings) == 4


def test_a_polymarket_market_with_an_unknown_fee_is_a_node_without_listings() -> None:
    """Real captures: the 2026 crypto market (fees enabled, no feeSchedule) and a CLOB market (no
    Gamma fee metadata). Neither is priced fee-free: both are kept out of trading with the reason."""
    gamma = polymarket_wire.decode_gamma_market(
        json.loads((VENUES / "polymarket/rest/nautilus_gamma_market.json").read_bytes())
    )
    clob = polymarket_wire.decode_clob_market(
        json.loads((VENUES / "polymarket/rest/nautilus_market.json").read_bytes())
    )
    graph = build_graph([gamma, clob])
    for m in (gamma, clob):
        assert m.status is MarketStatus.OPEN and m.accepting_orders  # tradable but for the fee
        assert cid(m.market_id, P) in graph.markets and graph.component_of(P, m.market_id) is not None
    assert all(c.listings == () for c in graph.components)
    unknown = {e.subject: e.reason for e in graph.exclusions(ExclusionKind.MARKET_FEE_UNKNOWN)}
    assert set(unknown) == {cid(gamma.market_id, P), cid(clob.market_id, P)}
    assert "feeSchedule" in unknown[cid(gamma.market_id, P)]
    with_schedule = dataclasses.replace(gamma, taker_fee=polymarket_fee(rate=Decimal("0.25"), exponent=2))
    assert len(build_graph([with_schedule]).components[0].listings) == 2  # listed once the schedule is known


def test_a_kalshi_market_without_a_known_series_fee_is_a_node_without_listings() -> None:
    (k,) = kalshi_wire.decode_markets_page({"markets": [json.loads(MVE.read_bytes())[0]]})[0]
    k = dataclasses.replace(k, status=MarketStatus.OPEN, accepting_orders=True)
    flat = kalshi_wire.apply_series(k, SeriesInfo(k.series_id, "", "flat", Decimal(1)))
    priced = kalshi_wire.apply_series(k, SeriesInfo(k.series_id, "", "quadratic", Decimal(2)))
    for unknown in (k, flat):  # series not read; a fee table that is not machine-readable
        graph = build_graph([unknown])
        assert graph.components[0].listings == ()
        assert [e.subject for e in graph.exclusions(ExclusionKind.MARKET_FEE_UNKNOWN)] == [cid(k.market_id)]
    (component,) = build_graph([priced]).components
    assert [listing.taker_fee.multiplier for listing in component.listings] == [Decimal(2)] * 2


def test_a_market_listed_twice_with_different_content_is_dropped() -> None:
    a = market("A")
    graph = build_graph([a, dataclasses.replace(a, title="changed"), market("B")])
    assert list(graph.markets) == [cid("B")]
    assert graph.exclusions(ExclusionKind.MARKET_DUPLICATE)[0].subject == cid("A")
    assert list(build_graph([a, a]).markets) == [cid("A")]


def test_a_market_without_relations_is_its_own_component() -> None:
    graph = build_graph([market("SOLO")])
    (component,) = graph.components
    assert component == Component(component_id([cid("SOLO")]), (cid("SOLO"),), (), component.listings)
    assert [listing.side for listing in component.listings] == [Side.YES, Side.NO]
    assert graph.component_of(K, "SOLO") == component.id and graph.component_of(P, "SOLO") is None


def test_the_graph_edges_name_their_relations() -> None:
    members = exclusive_members("E1", 3)
    ladder = [market(f"T{k}", event_id="E2", strike=StrikeInfo("greater", floor=Decimal(k))) for k in (1, 2)]
    graph = build_graph([*members, *ladder], [kalshi_event("E1", members)], config=CURATED)
    labels = sorted(data["relation"] for _, _, data in graph.graph.edges(data=True))
    assert labels == ["exactly_one", "exactly_one", "implies"]


def _fomc_inputs() -> tuple[list[MarketInfo], list[EventInfo], list[CuratedLink]]:
    kalshi, polymarket = _fomc_events()
    extra = [market(f"T{k}", event_id="E2", strike=StrikeInfo("greater", floor=Decimal(k))) for k in (1, 2, 3)]
    return extra, [*kalshi, *polymarket], _fomc_links()


def test_rebuilds_are_deterministic_whatever_the_input_order() -> None:
    markets, events, links = _fomc_inputs()
    first = build_graph(markets, events, links)
    rng = random.Random(7)
    for _ in range(3):
        shuffled_markets, shuffled_events, shuffled_links = list(markets), list(events), list(links)
        rng.shuffle(shuffled_markets)
        rng.shuffle(shuffled_events)
        rng.shuffle(shuffled_links)
        again = build_graph(shuffled_markets, shuffled_events, shuffled_links)
        assert again.relations == first.relations
        assert again.components == first.components
        assert again.excluded == first.excluded


def test_component_ids_are_stable_while_membership_is_unchanged() -> None:
    markets, events, links = _fomc_inputs()
    before = build_graph(markets, events, links)
    meeting = links[0].kalshi_ticker.rsplit("-", 1)[0]
    meeting_links = [link for link in links if link.kalshi_ticker.startswith(meeting + "-")]
    assert len(meeting_links) == 3
    # one link fewer: the meeting is still connected, so nothing changes id (relations may differ)
    fewer = build_graph(markets, events, links[1:] if links[0] in meeting_links else links)
    assert {c.id for c in fewer.components} == {c.id for c in before.components}
    # no links for that meeting and an unrelated new market: only that meeting's component changes
    after = build_graph([*markets, market("NEW")], events, [link for link in links if link not in meeting_links])
    split = before.component_of(K, meeting_links[0].kalshi_ticker)
    assert {c.id for c in before.components} - {split} <= {c.id for c in after.components}
    assert split not in {c.id for c in after.components}
    assert len(after.components) == len(before.components) + 2  # the meeting split in two, plus NEW
    # a paused market keeps its component (and id), only its listings go
    paused = [
        dataclasses.replace(m, status=MarketStatus.PAUSED, accepting_orders=False) if m.market_id == "T2" else m
        for m in markets
    ]
    assert before.component_of(K, "T2") == build_graph(paused, events, links).component_of(K, "T2")


# -- the partition property -----------------------------------------------------------------------------


@st.composite
def random_inputs(draw: st.DrawFn) -> tuple[list[MarketInfo], list[EventInfo], list[CuratedLink]]:
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    markets: list[MarketInfo] = []
    events: list[EventInfo] = []
    for e in range(rng.randint(0, 4)):  # Kalshi exclusive events, some incomplete or with closed members
        members = exclusive_members(f"G{e}", rng.randint(2, 5))
        members = [
            dataclasses.replace(m, status=MarketStatus.CLOSED, accepting_orders=False) if rng.random() < 0.15 else m
            for m in members
        ]
        events.append(kalshi_event(f"G{e}", [], market_ids=tuple(m.market_id for m in members)))
        markets += [m for m in members if rng.random() < 0.9]
    for e in range(rng.randint(0, 3)):  # strike ladders
        for i in range(rng.randint(1, 5)):
            kind = rng.choice(_STRIKE_TYPES)
            lo = Decimal(rng.randint(0, 20))
            strike = StrikeInfo(kind, floor=lo, cap=lo + rng.randint(0, 5))
            markets.append(market(f"S{e}-{i}", event_id=f"S{e}", strike=strike))
    polymarket = [
        market(
            f"0x{i}", venue=P, event_id="PM", venue_market_id=str(i), title=f"Bitcoin above {60 + i},000 on March 11?"
        )
        for i in range(rng.randint(0, 5))
    ]
    markets += polymarket
    singles = [market(f"K{i}") for i in range(rng.randint(0, 4))]
    markets += singles
    links = []
    kalshi_nodes = [m for m in markets if m.venue is K]
    for p in polymarket:
        if kalshi_nodes and rng.random() < 0.6:
            k = rng.choice(kalshi_nodes)
            links.append(
                _link(k, p, orientation=rng.choice(list(Orientation)), settlement_risk=rng.choice(list(SettlementRisk)))
            )
    return markets, events, links


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_inputs())
def test_components_partition_the_contracts_and_hold_their_relations(inputs) -> None:
    markets, events, links = inputs
    graph = build_graph(markets, events, links)
    seen: list[str] = []
    for component in graph.components:
        seen += component.contracts
        assert component.id == component_id(component.contracts)
        assert list(component.contracts) == sorted(component.contracts)
        assert all(listing.contract in component.contracts for listing in component.listings)
        for relation in component.relations:
            assert set(relation_contracts(relation)) <= set(component.contracts)
        CandidateSet(component.id, tuple(Contract(c) for c in component.contracts), (), component.relations)
    assert sorted(seen) == sorted(graph.markets) and len(seen) == len(set(seen))
    for relation in graph.relations:
        homes = {graph.component_of(*_split(c)) for c in relation_contracts(relation)}
        assert len(homes) == 1 and None not in homes
    assert sum(len(c.relations) for c in graph.components) == len(graph.relations)


def _split(contract: str) -> tuple[Venue, str]:
    venue, market_id = contract.split(":", 1)
    return Venue(venue), market_id


def test_threshold_titles_inside_an_exclusive_group_form_no_ladder() -> None:
    group = GroupInfo("neg", GroupKind.NEG_RISK, exhaustive=True)
    markets = [_btc(f"0x{k}", f"Bitcoin above {k},000 on March 11?", group=group) for k in (62, 64)]
    event = EventInfo(P, "BTC-MAR11", "", "", group, tuple(m.market_id for m in markets), tuple(markets))
    graph = build_graph(markets, [event])
    assert [type(r) for r in graph.relations] == [ExactlyOne]  # the venue's claim stands alone
    assert ExclusionKind.LADDER_IN_GROUP in kinds(graph)


def test_touching_buckets_inside_an_exclusive_event_keep_the_group() -> None:
    """Kalshi-style buckets that share an endpoint cannot be proven disjoint by their strikes, but the
    venue's exclusive group still stands (their interiors do not overlap): at-most-one, since whether
    the shared endpoints belong to a bucket is not stated; exactly-one once the series is curated."""
    group = GroupInfo("E1", GroupKind.MUTUALLY_EXCLUSIVE, exhaustive=False)
    strikes = [
        StrikeInfo("less", cap=Decimal(10)),
        StrikeInfo("between", Decimal(10), Decimal(20)),
        StrikeInfo("between", Decimal(20), Decimal(30)),
        StrikeInfo("greater", floor=Decimal(30)),
    ]
    members = [market(f"E1-{i}", event_id="E1", group=group, strike=s) for i, s in enumerate(strikes)]
    graph = build_graph(members, [kalshi_event("E1", members)])
    assert graph.relations == (AtMostOne(tuple(cid(m.market_id) for m in members)),)
    assert kinds(graph) == {ExclusionKind.GROUP_STRIKES_UNCOVERED}
    curated = build_graph(members, [kalshi_event("E1", members)], config=CURATED)
    assert curated.relations == (ExactlyOne(tuple(cid(m.market_id) for m in members)),)
    assert curated.excluded == ()


def test_one_pair_linked_twice_is_one_relation_risky_if_either_link_is() -> None:
    k, p = _pair()
    by_condition = _link(k, p)
    by_gamma = _link(k, p, polymarket_condition_id="", settlement_risk=SettlementRisk.MINOR_DIFFERENCES)
    graph = build_graph([k, p], links=[by_condition, by_gamma])
    assert graph.relations == (Equivalent(cid("KX-A"), cid("0xa", P), False, True),)
    flipped = build_graph([k, p], links=[by_condition, dataclasses.replace(by_gamma, orientation=Orientation.INVERTED)])
    assert flipped.relations == () and len(flipped.exclusions(ExclusionKind.LINK_ORIENTATION_CONFLICT)) == 2


# -- adversarial review: soundness of groups and ladders ---------------------------------------------------


def test_a_market_named_by_two_groups_is_in_neither_relation() -> None:
    """A market in two groups: event B lists m1, but m1 itself claims group A (whose event lists it
    too). Which group it belongs to is unknown, and a wrong member makes even at-most-one false, so
    m1 is left out of both relations and both degrade to at-most-one over the rest."""
    group_a = GroupInfo("A", GroupKind.MUTUALLY_EXCLUSIVE, exhaustive=True)
    group_b = GroupInfo("B", GroupKind.MUTUALLY_EXCLUSIVE, exhaustive=True)
    in_a = [market(m, event_id="A", group=group_a) for m in ("m1", "m2", "m4")]
    in_b = [market(m, event_id="B", group=group_b) for m in ("m3", "m5")]
    graph = build_graph((), [kalshi_event("A", in_a), kalshi_event("B", in_b, market_ids=("m1", "m3", "m5"))])
    assert group_relations(graph) == [AtMostOne((cid("m2"), cid("m4"))), AtMostOne((cid("m3"), cid("m5")))]
    mismatches = {e.subject: e.reason for e in graph.exclusions(ExclusionKind.GROUP_MEMBERSHIP_MISMATCH)}
    assert set(mismatches) == {"kalshi:group:A", "kalshi:group:B"}
    assert all("kalshi:m1" in reason and "another group" in reason for reason in mismatches.values())


def test_conflicting_copies_of_one_event_degrade_the_group_in_any_order() -> None:
    """Two snapshots of one event with different market lists (a market was added): the older list
    must not make the group exactly-one, whichever copy comes first."""
    members = exclusive_members("E1", 2)
    old = kalshi_event("E1", members)
    new = dataclasses.replace(old, market_ids=(*old.market_ids, "E1-new"))
    results = {build_graph((), events).relations for events in ([old, new], [new, old])}
    assert results == {(AtMostOne((cid("E1-0"), cid("E1-1"))),)}
    for events in ([old, new], [new, old]):
        graph = build_graph((), events)
        assert ExclusionKind.GROUP_MEMBERSHIP_MISMATCH in kinds(graph) and ExclusionKind.GROUP_INCOMPLETE in kinds(
            graph
        )


@pytest.mark.parametrize(
    "template",
    [
        "Will Bitcoin NOT close above ${} on March 11?",
        "Will Bitcoin never dip below ${} by March 11?",
        "Will Bitcoin fail to stay above ${} on March 11?",
        "Won't Bitcoin be above ${} on March 11?",
        "Will there be no more than {} storms on March 11?",
        "Will there be not less than {} storms on March 11?",
    ],
)
def test_negated_threshold_titles_form_no_ladder(template: str) -> None:
    """A negation flips the YES set ("NOT above k" is "at most k"): reading the direction word alone
    would chain the ladder the wrong way round. Such titles are left alone."""
    assert parse_threshold_title(template.format("64,000")) is None
    markets = [_btc(f"0x{k}", template.format(f"{k},000")) for k in (62, 64, 66)]
    assert build_graph(markets).relations == ()


def test_markets_whose_group_has_no_id_are_never_grouped() -> None:
    """A negRisk market without negRiskMarketID or event decodes with group id "": markets of
    unrelated events would share that id, and at-most-one over them is false (both can be YES)."""
    nameless = GroupInfo("", GroupKind.NEG_RISK, exhaustive=False)
    markets = [
        market(f"0x{i}", venue=P, event_id="", group=nameless, title=f"Unrelated question {i}?") for i in range(3)
    ]
    graph = build_graph(markets)
    assert group_relations(graph) == []
    (exclusion,) = graph.exclusions(ExclusionKind.GROUP_MEMBERSHIP_UNKNOWN)
    assert exclusion.subject == "polymarket:group:" and "no group id" in exclusion.reason


def test_links_that_make_two_members_of_an_exclusive_group_equal_are_excluded() -> None:
    """K1 = P1 and K1 = P2 with P1, P2 in one exclusive group forces P1 = P2 = 0: no linked market
    could ever resolve YES, so the graph would enumerate a false outcome set. Every link of that
    class is excluded; an unrelated link stays."""
    group = GroupInfo("0xneg", GroupKind.NEG_RISK, exhaustive=True, label="")
    p1, p2, p3 = (
        market(f"0x{i}", venue=P, event_id="9", venue_market_id=str(i), rules_text="r", group=group) for i in (1, 2, 3)
    )
    event = EventInfo(P, "9", "event", "", group, ("0x1", "0x2", "0x3"), (p1, p2, p3))
    k1 = market("K1", rules_text="r")
    unrelated_k, unrelated_p = _pair()
    graph = build_graph(
        [k1, unrelated_k, unrelated_p], [event], [_link(k1, p1), _link(k1, p2), _link(unrelated_k, unrelated_p)]
    )
    assert [r for r in graph.relations if isinstance(r, Equivalent)] == [Equivalent(cid("KX-A"), cid("0xa", P))]
    conflicts = graph.exclusions(ExclusionKind.LINK_ORIENTATION_CONFLICT)
    assert len(conflicts) == 2 and all("exclusive group" in e.reason for e in conflicts)
    assert ExactlyOne((cid("0x1", P), cid("0x2", P), cid("0x3", P))) in graph.relations  # the group itself stays
    # one link into the group is fine
    single = build_graph([k1], [event], [_link(k1, p1)])
    assert Equivalent(cid("K1"), cid("0x1", P)) in single.relations
