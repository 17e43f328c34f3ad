"""The market graph: contracts as nodes, logical relations as edges and groups
(docs/architecture.md#market-graph-and-scanner); its connected components are the candidate sets
handed to `solvers`.

Contract ids are `"<venue>:<market_id>"` (Kalshi ticker, Polymarket condition id), so ids from the
two venues never collide. A *listing* is one buyable instrument: one side of one contract on one
venue, read from that market's `BinaryBook` (Kalshi's NO side is the mirror of the YES ladder).

`build_graph` is pure and deterministic: the same markets, events and links (in any order) give the
same graph, the same relations and the same component ids. Every claim it declines to make is an
`Exclusion` with a kind and a reason, so an operator can see why a group is only at-most-one or a
link is not used. The rules, in the order they apply:

Markets
- A market listed twice with different content is dropped (which copy is current is unknown).
- Closed or settled markets are not nodes (nothing to trade; their groups degrade, see below).
- Paused or unopened markets (or markets without CLOB tokens or price bands) are nodes without
  listings: their relations stay, so a pause does not change component ids, and an exactly-one
  group with an untradable member is, on the tradable members, the same constraint as
  at-most-one.
- A market whose taker fee is unknown (`MarketInfo.taker_fee` None: a Polymarket market with fees
  enabled and no schedule or read from the CLOB alone, a Kalshi market whose series fee type is not
  known) is, for the same reasons, a node without listings (MARKET_FEE_UNKNOWN) until its schedule is
  known: an unknown fee is never priced as zero or as some default.

Groups (docs/optimization.md#outcome-sets: exactly-one sum z = 1, exclusive-not-exhaustive sum z <= 1)
- Members come from `MarketInfo.group` and from `EventInfo` (its `market_ids` are the expected
  membership). A group is exactly-one only when all of these hold, otherwise at-most-one over the
  present members, with the reason recorded:
  * exhaustiveness is known: for Polymarket the venue says so (`GroupInfo.exhaustive`: negRisk
    events with `negRiskAugmented: false`); for Kalshi it is proven (see the Kalshi rule below);
  * not augmented and no member is a placeholder ("Other", "Someone else", "Field", ...);
  * membership is known (`EventInfo.market_ids`, unless `GraphConfig.require_known_membership` is
    off) and every expected member is present and not closed, and no extra member claims the group;
  * the membership is consistent: every copy of the event lists the same markets (otherwise every
    market any copy names is expected), and no member is named by another group too (such a
    market is left out of both groups' relations: a wrong member makes even at-most-one false);
  * for members with numeric strikes: some member is unbounded below and some unbounded above
    (buckets with no tails cannot cover every value).
- Kalshi rule. Kalshi's API defines `mutually_exclusive` as "only one market in this event can
  resolve to yes" - exclusivity only (docs/venues.md#kalshi-metadata). Events whose market list is
  open-ended (people, with markets added over time) are also `mutually_exclusive`, and when an
  unlisted outcome happens every market resolves NO: buying every YES of such an event is not
  riskless. So a Kalshi group is exactly-one only when exhaustiveness is proven, by one of:
  * its series is on the curated, reviewed list `GraphConfig.exhaustive_kalshi_series` (every series
    the event and its markets name; `arb.exhaustive_series`, `config/exhaustive_series.toml`);
  * the members' strikes partition the whole line: every member has a numeric strike, one is
    unbounded below, one unbounded above, and each bucket ends exactly where the next begins with
    the boundary value in exactly one of the two. Boundaries are read as the strike type states
    them ("greater" excludes its floor, "greater_or_equal" includes it, "less"/"less_or_equal"
    likewise). Kalshi does not say whether a "between" bucket includes its floor and cap, so a
    junction at a "between" bound is never proven (the value could be in neither bucket); the
    proof then covers threshold pairs such as "below k" / "k or above". Bucket events whose buckets
    leave resolution-sized gaps on the real line (whole degrees, cents) need a curated entry.
  Otherwise the group is at-most-one, the reason recorded (GROUP_UNPROVEN without strike metadata,
  GROUP_STRIKES_UNCOVERED when the strikes leave a gap, an overlap or a doubtful boundary).
- A group without an id (a negRisk market with neither `negRiskMarketID` nor its event) gets no
  relation: markets of unrelated events would share the empty id.
- Members whose strikes provably overlap (both can resolve YES: their interiors meet, or both surely
  include one boundary value, "at most k" with "at least k") contradict exclusivity: the group
  relation and the strike relations of those markets are dropped (GROUP_CONFLICT).

Implication ladders (z_A <= z_B when A's YES set is inside B's)
- Kalshi strikes, per (event, close time): "greater"/"greater_or_equal" floors chain from the
  highest floor down, "less"/"less_or_equal" caps from the lowest cap up, and each "between"
  bucket [floor, cap] implies the tightest threshold containing it. Pairwise disjoint "between"
  buckets are at-most-one (unless a group relation already covers them). Buckets are read as
  closed intervals, the conservative reading: a claimed containment or disjointness holds whether
  the venue's bounds are open or closed.
- Titles, when a market has no strike metadata: within one event and close time, markets whose
  titles are identical except for one number with one direction word ("above", "below", "at least",
  "or more", "+", ...) and the same unit form a threshold ladder. Anything ambiguous (two numbers,
  a number without a direction, a repeated threshold, a negation: "NOT above k" is "at most k") is
  left alone.

Conjunctions (Kalshi multivariate combos): the legs come from the decoded custom strike
("Associated Markets" / "Associated Market Sides", which mirrors `mve_selected_legs`). When every
leg is YES and every leg market is a node: Conjunction(result, legs). A NO leg needs the leg's
complement as a contract, which the graph does not model: skipped (CONJUNCTION_NO_LEG).

Curated links (arb.links): Equivalent(kalshi, polymarket, inverted, settlement_risk = class is not
identical_rules). Excluded with a reason: a market not in the input or not a node, a stale link
(rules text or close time changed), class different_resolution_source (unless
`allow_different_resolution_source`), and every link of an equivalence class whose orientations
contradict each other around a cycle, or that makes two members of one exclusive group equal (they
could then never resolve YES; fail closed: which link is wrong is unknown).
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import networkx as nx

from arb.domain import PLACEHOLDER_OUTCOME_LABEL, EventInfo, GroupInfo, MarketInfo, MarketStatus, StrikeInfo, Venue
from arb.errors import ConfigError
from arb.exhaustive_series import ExhaustiveSeries
from arb.links import CuratedLink, SettlementRisk, link_is_current
from solvers.fees import FeeRule
from solvers.outcomes import signed_parity
from solvers.problem import AtMostOne, Conjunction, Equivalent, ExactlyOne, Implies, Relation, Side, relation_contracts

__all__ = [
    "Component",
    "Exclusion",
    "ExclusionKind",
    "GraphConfig",
    "Listing",
    "MarketGraph",
    "build_graph",
    "component_id",
    "contract_id",
    "parse_threshold_title",
]


def contract_id(venue: Venue, market_id: str) -> str:
    """The graph's id of a venue market."""
    return f"{venue.value}:{market_id}"


@dataclass(frozen=True, slots=True)
class Listing:
    """Buying `side` of market `market_id` on `venue` (its `BinaryBook` is keyed by (venue, market_id)).

    instrument_id: `"<contract id>:<yes|no>"`, unique across the graph
    taker_fee: always known (a market with an unknown fee has no listings)
    buy_amount_increment_micro_usd / sell_amount_increment_micro_usd: the cash amount (quantity x
        limit price) of a BUY (SELL) order must be a multiple of this; 0 = no constraint
        (`MarketInfo` fields of the same names)
    """

    instrument_id: str
    venue: Venue
    market_id: str
    contract: str
    side: Side
    taker_fee: FeeRule
    lot_size_micro: int
    tick_size_micro: int
    min_order_size_micro: int
    buy_amount_increment_micro_usd: int = 0
    sell_amount_increment_micro_usd: int = 0


@dataclass(frozen=True, slots=True)
class Component:
    """One connected component of the graph: a candidate set without books yet.

    id: stable across rebuilds while membership is unchanged (derived from the sorted contract ids)
    relations: solver-neutral relations over `contracts` (ExactlyOne, AtMostOne, Implies,
        Equivalent, Conjunction)
    """

    id: str
    contracts: tuple[str, ...]
    relations: tuple[Relation, ...]
    listings: tuple[Listing, ...]


class ExclusionKind(str, enum.Enum):
    """Why a market, relation or link was left out or weakened."""

    MARKET_DUPLICATE = "market_duplicate"  # listed twice with different content: dropped
    MARKET_CLOSED = "market_closed"  # closed or settled: not a node
    MARKET_NOT_TRADABLE = "market_not_tradable"  # paused/unopened/no book: a node without listings
    MARKET_FEE_UNKNOWN = "market_fee_unknown"  # fee schedule not known: a node without listings
    GROUP_AUGMENTED = "group_augmented"  # negRiskAugmented: at-most-one
    GROUP_PLACEHOLDER = "group_placeholder"  # an "Other"-like member: at-most-one
    GROUP_NOT_EXHAUSTIVE = "group_not_exhaustive"  # Polymarket: the venue does not say exhaustive
    GROUP_MEMBERSHIP_UNKNOWN = "group_membership_unknown"  # no EventInfo: at-most-one
    GROUP_INCOMPLETE = "group_incomplete"  # expected members missing or closed: at-most-one
    GROUP_MEMBERSHIP_MISMATCH = "group_membership_mismatch"  # a market claims a group its event does not list
    GROUP_STRIKES_UNCOVERED = "group_strikes_uncovered"  # strikes leave values uncovered (or may): at-most-one
    GROUP_UNPROVEN = "group_unproven"  # Kalshi exclusive event: no strike proof, series not curated
    GROUP_CONFLICT = "group_conflict"  # members' strikes overlap: group dropped
    GROUP_TOO_SMALL = "group_too_small"  # fewer than two members left: no relation
    LADDER_OVERLAP = "ladder_overlap"  # "between" buckets overlap: no at-most-one among them
    LADDER_IN_GROUP = "ladder_in_group"  # nested threshold titles inside an exclusive group: no ladder
    CONJUNCTION_NO_LEG = "conjunction_no_leg"  # a NO leg: not expressible
    CONJUNCTION_MISSING_LEG = "conjunction_missing_leg"  # a leg market is not a node
    CONJUNCTION_MALFORMED = "conjunction_malformed"  # legs and sides do not line up
    LINK_UNKNOWN_MARKET = "link_unknown_market"  # a linked market is not in the input (or not a node)
    LINK_STALE = "link_stale"  # rules text or close time changed since approval
    LINK_DIFFERENT_SOURCE = "link_different_source"  # different resolution source, not allowed
    LINK_ORIENTATION_CONFLICT = "link_orientation_conflict"  # an odd cycle of inversions


@dataclass(frozen=True, slots=True)
class Exclusion:
    """subject: a contract id, a group ("<venue>:group:<id>") or a link ("link:<kalshi>~<polymarket>")."""

    kind: ExclusionKind
    subject: str
    reason: str


@dataclass(frozen=True, slots=True)
class GraphConfig:
    """How much the graph trusts the venues' metadata.

    allow_different_resolution_source: use links of that class (as settlement-risk links)
    exhaustive_kalshi_series: the curated Kalshi series whose `mutually_exclusive` events list every
        outcome (`arb.exhaustive_series.load_exhaustive_series("config/exhaustive_series.toml")`);
        other Kalshi groups are exactly-one only when their strikes prove it (module docstring)
    require_known_membership: exactly-one needs the event's market list (`EventInfo.market_ids`)
    title_ladders: infer threshold ladders from titles when strikes are absent
    placeholder_label_pattern: a member label matching it (fully) makes its group at-most-one
    """

    allow_different_resolution_source: bool = False
    exhaustive_kalshi_series: tuple[ExhaustiveSeries, ...] = ()
    require_known_membership: bool = True
    title_ladders: bool = True
    placeholder_label_pattern: re.Pattern[str] = field(default=PLACEHOLDER_OUTCOME_LABEL)

    def __post_init__(self) -> None:
        entries = self.exhaustive_kalshi_series
        if not isinstance(entries, tuple) or not all(isinstance(e, ExhaustiveSeries) for e in entries):
            raise ConfigError(
                "GraphConfig.exhaustive_kalshi_series must be a tuple of ExhaustiveSeries "
                f"(arb.exhaustive_series.load_exhaustive_series), was {entries!r}"
            )


def component_id(contracts: Iterable[str]) -> str:
    """Stable id of a set of contracts: a short sha256 of the sorted ids."""
    digest = hashlib.sha256("\n".join(sorted(contracts)).encode()).hexdigest()
    return f"c-{digest[:16]}"


@dataclass(frozen=True, slots=True)
class MarketGraph:
    """The built graph. `graph` is a networkx MultiGraph over contract ids whose edges carry
    `relation` (the kind, e.g. "exactly_one") and `index` (into `relations`); a group is a path over
    its sorted members, so the edges connect exactly what the relation constrains."""

    graph: nx.MultiGraph
    markets: Mapping[str, MarketInfo]  # contract id -> market (nodes only)
    relations: tuple[Relation, ...]
    components: tuple[Component, ...]  # sorted by id
    excluded: tuple[Exclusion, ...]
    _component_of: Mapping[str, str]
    _by_id: Mapping[str, Component]

    def component_of(self, venue: Venue, market_id: str) -> str | None:
        """The id of the component holding a market, None when it is not a node."""
        return self._component_of.get(contract_id(venue, market_id))

    def component(self, component_id: str) -> Component:
        return self._by_id[component_id]

    def exclusions(self, kind: ExclusionKind) -> tuple[Exclusion, ...]:
        return tuple(e for e in self.excluded if e.kind is kind)


# -- intervals: the YES set of a strike or threshold market on its underlying's line ----------------


@dataclass(frozen=True, slots=True)
class _Interval:
    """YES iff the value lies in (lo, hi) with closed ends where flagged; None is unbounded."""

    lo: Decimal | None
    lo_closed: bool
    hi: Decimal | None
    hi_closed: bool

    @property
    def kind(self) -> str:
        if self.lo is not None and self.hi is None:
            return "lower"  # X > k (or >=)
        if self.lo is None and self.hi is not None:
            return "upper"  # X < k (or <=)
        return "bucket"

    def lower_key(self) -> tuple[Decimal, int]:
        """Larger key = smaller set, for lower thresholds."""
        assert self.lo is not None
        return (self.lo, 0 if self.lo_closed else 1)

    def upper_key(self) -> tuple[Decimal, int]:
        """Larger key = larger set, for upper thresholds."""
        assert self.hi is not None
        return (self.hi, 1 if self.hi_closed else 0)


def _above(bound: Decimal, bound_closed: bool, threshold: Decimal, threshold_closed: bool) -> bool:
    """Every value >= bound (or > bound when open) is inside the threshold's lower half-line."""
    return bound > threshold or (bound == threshold and (threshold_closed or not bound_closed))


def _below(bound: Decimal, bound_closed: bool, threshold: Decimal, threshold_closed: bool) -> bool:
    return bound < threshold or (bound == threshold and (threshold_closed or not bound_closed))


def _strike_interval(market: MarketInfo) -> _Interval | None:
    strike = market.strike
    if strike is None:
        return None
    floor, cap = strike.floor, strike.cap
    match strike.strike_type:
        case "greater" if floor is not None:
            return _Interval(floor, False, None, False)
        case "greater_or_equal" if floor is not None:
            return _Interval(floor, True, None, False)
        case "less" if cap is not None:
            return _Interval(None, False, cap, False)
        case "less_or_equal" if cap is not None:
            return _Interval(None, False, cap, True)
        case "between" if floor is not None and cap is not None and floor <= cap:
            return _Interval(floor, True, cap, True)  # closed: the conservative reading
    return None


def _interiors_overlap(a: _Interval, b: _Interval) -> bool:
    """Provably both YES for some value: the open interiors intersect."""
    lo = max((x for x in (a.lo, b.lo) if x is not None), default=None)
    hi = min((x for x in (a.hi, b.hi) if x is not None), default=None)
    return lo is None or hi is None or lo < hi


def _disjoint(a: _Interval, b: _Interval) -> bool:
    """Provably never both YES, even with every bound read as closed."""
    return (a.hi is not None and b.lo is not None and a.hi < b.lo) or (
        b.hi is not None and a.lo is not None and b.hi < a.lo
    )


@dataclass(frozen=True, slots=True)
class _Range:
    """A strike market's YES set for the exhaustiveness proof. A closedness is True or False when
    the strike type fixes it and None when the venue leaves it unstated ("between" bounds)."""

    lo: Decimal | None
    lo_closed: bool | None
    hi: Decimal | None
    hi_closed: bool | None


def _strike_range(strike: StrikeInfo) -> _Range | None:
    """The YES set of a numeric strike; None for other types or unexpected bounds (doubt)."""
    floor, cap = strike.floor, strike.cap
    match strike.strike_type:
        case "greater" | "greater_or_equal" if floor is not None and cap is None:
            return _Range(floor, strike.strike_type == "greater_or_equal", None, None)
        case "less" | "less_or_equal" if cap is not None and floor is None:
            return _Range(None, None, cap, strike.strike_type == "less_or_equal")
        case "between" if floor is not None and cap is not None and floor < cap:
            return _Range(floor, None, cap, None)
    return None


def _share_a_point(a: MarketInfo, c: MarketInfo) -> bool:
    """Both strikes surely include one common boundary value ("at most k" and "at least k")."""
    if a.strike is None or c.strike is None:
        return False
    ra, rc = _strike_range(a.strike), _strike_range(c.strike)
    if ra is None or rc is None:
        return False
    return (ra.hi is not None and ra.hi == rc.lo and bool(ra.hi_closed) and bool(rc.lo_closed)) or (
        rc.hi is not None and rc.hi == ra.lo and bool(rc.hi_closed) and bool(ra.lo_closed)
    )


def _partition_gap(strikes: list[tuple[str, StrikeInfo | None]]) -> str | None:
    """None when the strikes' YES sets provably partition the real line (every value in exactly
    one), else the first doubt found: a member without a numeric strike, a missing tail, a gap, an
    overlap, or a junction whose boundary value may be in neither or both members."""
    ranges: list[tuple[str, _Range]] = []
    for cid, strike in strikes:
        if strike is None:
            return f"{cid} has no strike"
        found = _strike_range(strike)
        if found is None:
            return f"{cid} has strike type {strike.strike_type!r} with floor {strike.floor}, cap {strike.cap}: not a numeric range"
        ranges.append((cid, found))
    lower = [cid for cid, r in ranges if r.lo is None]
    upper = [cid for cid, r in ranges if r.hi is None]
    if len(lower) != 1 or len(upper) != 1:
        missing = [side for side, tails in (("below", lower), ("above", upper)) if not tails]
        if missing:
            return f"no member is unbounded {' or '.join(missing)}: values beyond every strike are not covered"
        return f"members {', '.join(lower if len(lower) > 1 else upper)} are unbounded on one side: they overlap"
    ordered = sorted(ranges, key=lambda item: (item[1].lo is not None, item[1].lo or Decimal(0), item[0]))
    for (a, ra), (c, rc) in itertools.pairwise(ordered):
        if ra.hi is None or rc.lo is None:
            return f"{a} and {c} overlap"
        if ra.hi < rc.lo:
            return f"gap between {a} (up to {ra.hi}) and {c} (from {rc.lo})"
        if ra.hi > rc.lo:
            return f"{a} (up to {ra.hi}) and {c} (from {rc.lo}) overlap"
        if ra.hi_closed is None or rc.lo_closed is None:
            unstated = a if ra.hi_closed is None else c
            return f"at {ra.hi}, where {a} meets {c}, whether {unstated} includes {ra.hi} is not stated"
        if ra.hi_closed == rc.lo_closed:
            return f"{ra.hi} is in {'both' if ra.hi_closed else 'neither of'} {a} and {c}"
    return None


# -- threshold titles ---------------------------------------------------------------------------------

_NUM = r"(?P<cur>\$)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<mult>[kKmMbB]n?\b|%|(?:\s?bps\b))?"
_PRE = {
    "above": (True, False),
    "over": (True, False),
    "more than": (True, False),
    "greater than": (True, False),
    "higher than": (True, False),
    "at least": (True, True),
    "at or above": (True, True),
    "at or below": (False, True),
    "below": (False, False),
    "under": (False, False),
    "less than": (False, False),
    "fewer than": (False, False),
    "lower than": (False, False),
    "at most": (False, True),
}
_POST = {
    "or more": (True, True),
    "or higher": (True, True),
    "or above": (True, True),
    "or greater": (True, True),
    "+": (True, True),
    "or less": (False, True),
    "or lower": (False, True),
    "or below": (False, True),
    "or fewer": (False, True),
}
_PRE_RE = "|".join(sorted((re.escape(w) for w in _PRE), key=len, reverse=True))
_POST_RE = "|".join(sorted((re.escape(w) for w in _POST), key=len, reverse=True))
_THRESHOLD = re.compile(
    rf"\b(?P<pre>{_PRE_RE})\s+{_NUM}|{_NUM.replace('?P<', '?P<p_')}\s*(?P<post>{_POST_RE})(?![\w])", re.IGNORECASE
)
_NEGATION = re.compile(r"\b(?:not|never|no|none|nor|without|fail(?:s|ed|ing)?\s+to)\b|n[\'\u2019]t\b", re.IGNORECASE)
_MULTIPLIER = {"k": Decimal(1_000), "m": Decimal(1_000_000), "b": Decimal(1_000_000_000), "bn": Decimal(1_000_000_000)}


def parse_threshold_title(title: str) -> tuple[str, str, Decimal, bool, bool] | None:
    """(template, unit, value, is_lower_bound, closed) for a title with exactly one number that
    carries a direction ("Bitcoin above $64,000 on March 11?" -> lower bound 64000, open), or None.
    `template` is the title with the threshold replaced by a marker; titles of one ladder share it."""
    if _NEGATION.search(title):
        return None  # "NOT above k" is "at most k": the direction word alone reads it backwards
    matches = list(_THRESHOLD.finditer(title))
    if len(matches) != 1:
        return None
    m = matches[0]
    groups = {k.removeprefix("p_"): v for k, v in m.groupdict().items() if v is not None}
    direction = _PRE[groups["pre"].lower()] if "pre" in groups else _POST[groups["post"].lower()]
    number_start = (
        m.start("cur")
        if m.group("cur") or m.group("p_cur")
        else (m.start("num") if m.group("num") else m.start("p_num"))
    )
    if number_start > 0 and title[number_start - 1] in "-\u2212":
        return None  # a negative threshold: the sign is not part of the pattern, never drop it
    if _has_other_number(title, m):
        return None
    try:
        value = Decimal(groups["num"].replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits digits only
        return None
    mult = (groups.get("mult") or "").strip().lower()
    if mult in _MULTIPLIER:
        value *= _MULTIPLIER[mult]  # the suffix stays in the unit: "$64k" and "$1m" never share a ladder
    unit = f"{groups.get('cur', '')}{mult}"
    is_lower, closed = direction
    template = f"{title[: m.start()]}<{'lower' if is_lower else 'upper'}>{title[m.end() :]}"
    return " ".join(template.lower().split()), unit, value, is_lower, closed


_NUMBER_TOKEN = re.compile(r"\d[\d,.]*")


def _has_other_number(title: str, match: re.Match[str]) -> bool:
    """Another number outside the threshold makes the title ambiguous, except a date or year that is
    the same in every member (kept in the template, so ladders only form within one date)."""
    outside = title[: match.start()] + " " + title[match.end() :]
    return any(not _is_date_part(outside, token) for token in _NUMBER_TOKEN.finditer(outside))


_MONTH = re.compile(r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*$", re.IGNORECASE)


def _is_date_part(text: str, token: re.Match[str]) -> bool:
    value = token.group().rstrip(",.")
    if not value.isdigit():
        return False
    if len(value) == 4 and 1900 <= int(value) <= 2100:
        return True  # a year
    before = text[: token.start()]
    return len(value) <= 2 and bool(_MONTH.search(before))  # "March 11", "Mar 3"


def _title_interval(market: MarketInfo) -> tuple[tuple[str, str], _Interval] | None:
    parsed = parse_threshold_title(market.title)
    if parsed is None:
        return None
    template, unit, value, is_lower, closed = parsed
    interval = _Interval(value, closed, None, False) if is_lower else _Interval(None, False, value, closed)
    return (template, unit), interval


# -- building ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Builder:
    config: GraphConfig
    markets: dict[str, MarketInfo] = field(default_factory=dict)  # nodes
    known: dict[str, MarketInfo] = field(default_factory=dict)  # every decoded market, closed too
    relations: list[Relation] = field(default_factory=list)
    seen: set[object] = field(default_factory=set)
    excluded: list[Exclusion] = field(default_factory=list)
    group_members: dict[str, frozenset[str]] = field(default_factory=dict)  # contract -> its group's members
    group_names: dict[str, set[str]] = field(default_factory=dict)  # contract -> every group naming it
    dropped_strikes: set[str] = field(default_factory=set)

    def exclude(self, kind: ExclusionKind, subject: str, reason: str) -> None:
        self.excluded.append(Exclusion(kind, subject, reason))

    def add(self, relation: Relation) -> None:
        key = _relation_key(relation)
        if key not in self.seen:
            self.seen.add(key)
            self.relations.append(relation)


def _relation_key(relation: Relation) -> object:
    match relation:
        case ExactlyOne(contracts) | AtMostOne(contracts):
            return (type(relation).__name__, frozenset(contracts))
        case Equivalent(a, b, inverted, risk):
            return ("Equivalent", frozenset((a, b)), inverted, risk)
        case Conjunction(result, operands):
            return ("Conjunction", result, frozenset(operands))
    return relation


def _tradable(market: MarketInfo) -> bool:
    return (
        market.status is MarketStatus.OPEN
        and market.accepting_orders
        and bool(market.price_bands)
        and (market.venue is not Venue.POLYMARKET or market.token_ids is not None)
    )


def _collect_markets(b: _Builder, markets: Iterable[MarketInfo], events: Iterable[EventInfo]) -> None:
    explicit: dict[str, list[MarketInfo]] = defaultdict(list)
    nested: dict[str, list[MarketInfo]] = defaultdict(list)
    for market in markets:
        explicit[contract_id(market.venue, market.market_id)].append(market)
    for event in events:
        for market in event.markets:
            nested[contract_id(market.venue, market.market_id)].append(market)
    # An explicitly passed market wins over its copy nested in an event (which may be older).
    merged = {**nested, **explicit}
    for cid in sorted(merged):
        copies = merged[cid]
        if any(copy != copies[0] for copy in copies[1:]):
            b.exclude(ExclusionKind.MARKET_DUPLICATE, cid, f"listed {len(copies)} times with different content")
            continue
        market = copies[0]
        b.known[cid] = market
        if market.status in (MarketStatus.CLOSED, MarketStatus.SETTLED):
            b.exclude(ExclusionKind.MARKET_CLOSED, cid, f"market is {market.status.value}")
            continue
        b.markets[cid] = market
        if not _tradable(market):
            reason = (
                f"status {market.status.value}, accepting orders {market.accepting_orders}: a node without listings"
            )
            b.exclude(ExclusionKind.MARKET_NOT_TRADABLE, cid, reason)
        if market.taker_fee is None:
            b.exclude(ExclusionKind.MARKET_FEE_UNKNOWN, cid, f"{_FEE_UNKNOWN[market.venue]}: a node without listings")


_FEE_UNKNOWN = {
    Venue.POLYMARKET: "taker fee unknown (fees enabled without a feeSchedule, or no Gamma fee metadata)",
    Venue.KALSHI: "taker fee unknown (series fee type not read, or one without a machine-readable schedule)",
}


@dataclass(slots=True)
class _Group:
    venue: Venue
    group_id: str
    info: list[GroupInfo] = field(default_factory=list)
    events: list[EventInfo] = field(default_factory=list)  # every event naming the group (copies too)
    members: set[str] = field(default_factory=set)  # contract ids of markets claiming the group


def _collect_groups(b: _Builder, events: Iterable[EventInfo]) -> dict[tuple[Venue, str], _Group]:
    groups: dict[tuple[Venue, str], _Group] = {}
    for event in sorted(events, key=lambda e: (e.venue.value, e.event_id, e.series_id, e.market_ids, e.title)):
        if event.group is None:
            continue
        key = (event.venue, event.group.group_id)
        group = groups.setdefault(key, _Group(event.venue, event.group.group_id))
        group.info.append(event.group)
        group.events.append(event)
    for cid, market in sorted(b.known.items()):
        if market.group is None:
            continue
        key = (market.venue, market.group.group_id)
        group = groups.setdefault(key, _Group(market.venue, market.group.group_id))
        group.info.append(market.group)
        group.members.add(cid)
    for (venue, group_id), group in groups.items():
        named = group.members | {contract_id(venue, m) for event in group.events for m in event.market_ids}
        for cid in named:
            b.group_names.setdefault(cid, set()).add(f"{venue.value}:group:{group_id}")
    return groups


def _group_relation(b: _Builder, group: _Group, intervals: Mapping[str, _Interval]) -> None:
    config = b.config
    subject = f"{group.venue.value}:group:{group.group_id}"
    if not group.group_id.strip():
        reason = f"no group id on {len(group.members | {m for e in group.events for m in e.market_ids})} market(s): unrelated events could share it, no relation"
        b.exclude(ExclusionKind.GROUP_MEMBERSHIP_UNKNOWN, subject, reason)
        return
    degraded: list[tuple[ExclusionKind, str]] = []
    expected: set[str] | None = None
    lists = {
        frozenset(contract_id(group.venue, m) for m in event.market_ids) for event in group.events if event.market_ids
    }
    if lists:
        # Two copies of an event (or two events of one group) that list different markets: which
        # list is current is unknown, so every market either names is expected (fail closed).
        expected = set().union(*lists)
        if len(lists) > 1:
            degraded.append(
                (ExclusionKind.GROUP_MEMBERSHIP_MISMATCH, f"{len(group.events)} event copies list different markets")
            )
    claimed = group.members | (expected or set())
    # A market that another group also names (its own group field or another event's list): which
    # group it is in is unknown, and a wrong member makes even at-most-one false. Left out.
    contested = sorted(cid for cid in claimed if len(b.group_names.get(cid, ())) > 1)
    if contested:
        others = "; ".join(
            f"{cid} also in {', '.join(g for g in sorted(b.group_names[cid]) if g != subject)}" for cid in contested
        )
        degraded.append((ExclusionKind.GROUP_MEMBERSHIP_MISMATCH, f"named by another group too, left out: {others}"))
    present = sorted(cid for cid in claimed if cid in b.markets and cid not in contested)

    if any(info.augmented for info in group.info):
        degraded.append((ExclusionKind.GROUP_AUGMENTED, "negRiskAugmented: placeholder outcomes, not exhaustive"))
    placeholders = sorted(cid for cid in claimed if cid in b.known and _is_placeholder(b.known[cid], config))
    if placeholders:
        degraded.append((ExclusionKind.GROUP_PLACEHOLDER, f"placeholder member(s) {', '.join(placeholders)}"))
    kalshi_unproven: tuple[ExclusionKind, str] | None = None
    if group.venue is Venue.KALSHI:
        # The venue's flag says exclusive only: exhaustive by a curated entry or a strike proof.
        series = _group_series(b, group, claimed)
        if not _curated(b, series):
            kalshi_unproven = _unproven_reason(b, series, present)
            if kalshi_unproven is not None:
                degraded.append(kalshi_unproven)
    elif not all(info.exhaustive for info in group.info):
        degraded.append((ExclusionKind.GROUP_NOT_EXHAUSTIVE, "the venue does not mark the group exhaustive"))
    if expected is None:
        if config.require_known_membership:
            degraded.append(
                (ExclusionKind.GROUP_MEMBERSHIP_UNKNOWN, "no event market list to check completeness against")
            )
    else:
        missing = sorted(m for m in expected if m not in b.markets)
        if missing:
            closed = [m for m in missing if m in b.known]
            absent = [m for m in missing if m not in b.known]
            parts = ([f"closed/dropped {', '.join(closed)}"] if closed else []) + (
                [f"absent {', '.join(absent)}"] if absent else []
            )
            degraded.append((ExclusionKind.GROUP_INCOMPLETE, "; ".join(parts)))
        extra = sorted(group.members - expected)
        if extra:
            degraded.append(
                (
                    ExclusionKind.GROUP_MEMBERSHIP_MISMATCH,
                    f"{', '.join(extra)} claim the group but the event does not list them",
                )
            )
    member_intervals = [intervals[cid] for cid in present if cid in intervals]
    if member_intervals and len(member_intervals) == len(present) and kalshi_unproven is None:
        # (an unproven Kalshi group already says why its strikes do not cover the line)
        has_lower_tail = any(i.lo is None for i in member_intervals)
        has_upper_tail = any(i.hi is None for i in member_intervals)
        if not (has_lower_tail and has_upper_tail):
            degraded.append(
                (
                    ExclusionKind.GROUP_STRIKES_UNCOVERED,
                    "strike buckets lack a tail, values beyond them are not covered",
                )
            )

    overlapping = sorted(
        f"{a}/{c}"
        for i, a in enumerate(present)
        for c in present[i + 1 :]
        if a in intervals
        and c in intervals
        and (_interiors_overlap(intervals[a], intervals[c]) or _share_a_point(b.markets[a], b.markets[c]))
    )
    if overlapping:
        b.exclude(
            ExclusionKind.GROUP_CONFLICT,
            subject,
            f"members can both resolve YES by their strikes ({', '.join(overlapping)}): no group relation",
        )
        b.dropped_strikes.update(cid for pair in overlapping for cid in pair.split("/"))
        return
    if len(present) < 2:
        b.exclude(ExclusionKind.GROUP_TOO_SMALL, subject, f"{len(present)} member(s) left: no relation")
        return
    for kind, reason in degraded:
        b.exclude(kind, subject, f"{reason}: at-most-one over {len(present)} members")
    relation: Relation = AtMostOne(tuple(present)) if degraded else ExactlyOne(tuple(present))
    b.add(relation)
    members = frozenset(present)
    for cid in present:
        b.group_members[cid] = members


def _group_series(b: _Builder, group: _Group, claimed: Iterable[str]) -> list[str]:
    """Every series the group's events and claimed markets name (sorted)."""
    named = {b.known[cid].series_id for cid in claimed if cid in b.known} | {e.series_id for e in group.events}
    return sorted(s for s in named if s)


def _curated(b: _Builder, series: list[str]) -> bool:
    """A Kalshi group naming `series` is exhaustive by the curated list: every series it names is listed."""
    curated = {entry.ticker for entry in b.config.exhaustive_kalshi_series}
    return bool(series) and all(s in curated for s in series)


def _unproven_reason(b: _Builder, series: list[str], present: list[str]) -> tuple[ExclusionKind, str] | None:
    """Why a Kalshi group naming `series`, not on the curated list, is not proven exhaustive, None
    when its strikes partition the line."""
    listed = f"series {', '.join(series)} not on the curated exhaustive list" if series else "no series to look up"
    strikes = [(cid, b.markets[cid].strike) for cid in present]
    if all(strike is None for _, strike in strikes):
        reason = f"Kalshi mutually_exclusive states exclusivity only: no strike metadata proves coverage, {listed}"
        return ExclusionKind.GROUP_UNPROVEN, reason
    gap = _partition_gap(strikes)
    if gap is None:
        return None
    return ExclusionKind.GROUP_STRIKES_UNCOVERED, f"strikes do not provably partition the line ({gap}), {listed}"


def _is_placeholder(market: MarketInfo, config: GraphConfig) -> bool:
    labels = {market.subtitle.strip(), (market.group.label if market.group else "").strip()}
    return any(label and config.placeholder_label_pattern.fullmatch(label) for label in labels)


def _ladder_relations(b: _Builder, members: list[tuple[str, _Interval]], subject: str) -> None:
    """Implications and bucket exclusivity among markets on one underlying line."""
    lowers = sorted(((i.lower_key(), cid) for cid, i in members if i.kind == "lower"), reverse=True)
    uppers = sorted((i.upper_key(), cid) for cid, i in members if i.kind == "upper")
    # A chain from the smallest YES set to the largest; equal sets imply each other.
    for chain in (lowers, uppers):
        for (key_a, a), (key_b, c) in itertools.pairwise(chain):
            b.add(Implies(a, c))
            if key_a == key_b:
                b.add(Implies(c, a))
    by_id = dict(members)
    buckets = sorted(cid for cid, i in members if i.kind == "bucket")
    for cid in buckets:
        bucket = by_id[cid]
        assert bucket.lo is not None and bucket.hi is not None
        inside_lower = [
            (key, t) for key, t in lowers if _above(bucket.lo, bucket.lo_closed, key[0], by_id[t].lo_closed)
        ]
        if inside_lower:
            b.add(Implies(cid, inside_lower[0][1]))  # lowers are sorted smallest set first
        inside_upper = [
            (key, t) for key, t in uppers if _below(bucket.hi, bucket.hi_closed, key[0], by_id[t].hi_closed)
        ]
        if inside_upper:
            b.add(Implies(cid, inside_upper[0][1]))
    covered = b.group_members.get(buckets[0]) if buckets else None
    if len(buckets) >= 2 and (covered is None or not set(buckets) <= covered):  # else the group says it already
        if all(_disjoint(by_id[a], by_id[c]) for i, a in enumerate(buckets) for c in buckets[i + 1 :]):
            b.add(AtMostOne(tuple(buckets)))
        else:
            b.exclude(
                ExclusionKind.LADDER_OVERLAP,
                subject,
                "between buckets are not provably disjoint: no at-most-one among them",
            )


def _ladders(b: _Builder, intervals: Mapping[str, _Interval]) -> None:
    lines: dict[tuple[object, ...], list[tuple[str, _Interval]]] = defaultdict(list)
    for cid, interval in intervals.items():
        market = b.markets[cid]
        if cid in b.dropped_strikes or market.close_time_ms is None:
            continue
        line = market.event_id or market.series_id
        if not line:
            continue
        lines[("strike", market.venue, line, market.close_time_ms)].append((cid, interval))
    if b.config.title_ladders:
        for cid, market in sorted(b.markets.items()):
            if cid in intervals or market.strike is not None or not market.event_id or market.close_time_ms is None:
                continue
            parsed = _title_interval(market)
            if parsed is not None:
                (template, unit), interval = parsed
                lines[("title", market.venue, market.event_id, market.close_time_ms, template, unit)].append(
                    (cid, interval)
                )
    for key in sorted(lines, key=repr):
        members = sorted(lines[key], key=lambda item: item[0])
        venue = key[1]
        assert isinstance(venue, Venue)
        subject = f"{venue.value}:ladder:{key[2]}"
        if key[0] == "title":
            values = [i.lo if i.lo is not None else i.hi for _, i in members]
            if len(members) < 2 or len(set(values)) != len(values):
                continue  # a single market, or a repeated threshold: ambiguous, left alone
            grouped = sorted(cid for cid, _ in members if cid in b.group_members)
            if (
                grouped
            ):  # nested thresholds cannot share an exclusive group: the venue's group wins over a title reading
                reason = f"threshold titles of group members {', '.join(grouped)}: no ladder"
                b.exclude(ExclusionKind.LADDER_IN_GROUP, subject, reason)
                continue
        if len(members) >= 2:
            _ladder_relations(b, members, subject)


_LEGS_KEY = "Associated Markets"
_SIDES_KEY = "Associated Market Sides"


def _conjunctions(b: _Builder) -> None:
    for cid, market in sorted(b.markets.items()):
        custom = dict(market.strike.custom) if market.strike is not None else {}
        if _LEGS_KEY not in custom:
            continue
        legs = [leg.strip() for leg in custom[_LEGS_KEY].split(",") if leg.strip()]
        sides = [side.strip().lower() for side in custom.get(_SIDES_KEY, "").split(",") if side.strip()]
        if (
            not legs
            or len(legs) != len(sides)
            or any(side not in ("yes", "no") for side in sides)
            or len(set(legs)) != len(legs)
        ):
            b.exclude(ExclusionKind.CONJUNCTION_MALFORMED, cid, f"{len(legs)} legs with sides {sides}: not read")
            continue
        no_legs = [leg for leg, side in zip(legs, sides, strict=True) if side == "no"]
        if no_legs:
            b.exclude(
                ExclusionKind.CONJUNCTION_NO_LEG,
                cid,
                f"NO leg(s) {', '.join(no_legs)} need complement contracts: skipped",
            )
            continue
        operands = tuple(contract_id(market.venue, leg) for leg in legs)
        missing = [leg for leg in operands if leg not in b.markets]
        if missing or cid in operands:
            b.exclude(
                ExclusionKind.CONJUNCTION_MISSING_LEG, cid, f"leg(s) not in the graph: {', '.join(missing) or cid}"
            )
            continue
        b.add(Conjunction(cid, operands))


def _links(b: _Builder, links: Iterable[CuratedLink]) -> None:
    by_gamma = {
        m.venue_market_id: cid for cid, m in b.known.items() if m.venue is Venue.POLYMARKET and m.venue_market_id
    }
    accepted: list[tuple[str, Equivalent]] = []
    for link in sorted(
        links, key=lambda link: (link.kalshi_ticker, link.polymarket_market_id, link.polymarket_condition_id)
    ):
        subject = f"link:{link.kalshi_ticker}~{link.polymarket_market_id}"
        kalshi_cid = contract_id(Venue.KALSHI, link.kalshi_ticker)
        poly_cid = (
            contract_id(Venue.POLYMARKET, link.polymarket_condition_id)
            if link.polymarket_condition_id
            else by_gamma.get(link.polymarket_market_id)
        )
        unknown = [
            name
            for name, cid in (("kalshi", kalshi_cid), ("polymarket", poly_cid))
            if cid is None or cid not in b.known
        ]
        if unknown:
            b.exclude(
                ExclusionKind.LINK_UNKNOWN_MARKET, subject, f"{' and '.join(unknown)} market not in the input: ignored"
            )
            continue
        assert poly_cid is not None
        stale = link_is_current(link, b.known[kalshi_cid], b.known[poly_cid])
        if stale is not None:
            b.exclude(ExclusionKind.LINK_STALE, subject, f"{stale}: excluded until approved again")
            continue
        inactive = [cid for cid in (kalshi_cid, poly_cid) if cid not in b.markets]
        if inactive:
            b.exclude(
                ExclusionKind.LINK_UNKNOWN_MARKET,
                subject,
                f"{', '.join(inactive)} is not a node (closed or dropped): ignored",
            )
            continue
        if (
            link.settlement_risk is SettlementRisk.DIFFERENT_RESOLUTION_SOURCE
            and not b.config.allow_different_resolution_source
        ):
            reason = "different resolution source: excluded (GraphConfig.allow_different_resolution_source is off)"
            b.exclude(ExclusionKind.LINK_DIFFERENT_SOURCE, subject, reason)
            continue
        risky = link.settlement_risk is not SettlementRisk.IDENTICAL_RULES
        accepted.append((subject, Equivalent(kalshi_cid, poly_cid, inverted=link.inverted, settlement_risk=risky)))
    # Orientation parity over the equivalence classes: an odd cycle of inversions is a contradiction.
    parity_graph = nx.Graph()
    for subject, eq in accepted:
        if parity_graph.has_edge(eq.a, eq.b):
            parity_graph.edges[eq.a, eq.b]["subjects"].append((subject, eq.inverted))
        else:
            parity_graph.add_edge(eq.a, eq.b, subjects=[(subject, eq.inverted)])
    conflicted: set[str] = set()
    why: dict[str, str] = {}
    groups = [set(r.contracts) for r in b.relations if isinstance(r, ExactlyOne | AtMostOne)]
    for nodes in nx.connected_components(parity_graph):
        parity = _parities(parity_graph.subgraph(nodes))
        if parity is None:
            conflicted |= set(nodes)
            continue
        # Two members of one exclusive group made equal by links would both be NO forever: a linked
        # market that can never resolve YES means a link is wrong (which one is unknown).
        for members in groups:
            inside = sorted(n for n in nodes if n in members)
            if any(parity[a] == parity[c] for i, a in enumerate(inside) for c in inside[i + 1 :]):
                conflicted |= set(nodes)
                why.update(
                    dict.fromkeys(
                        nodes,
                        f"its links make members of one exclusive group equal ({', '.join(inside)}): every link in it is excluded",
                    )
                )
                break
    # The same pair linked twice (by Gamma id and by condition id) is one relation, risky if either is.
    risky_pairs = {(eq.a, eq.b) for _, eq in accepted if eq.settlement_risk}
    for subject, eq in accepted:
        if eq.a in conflicted:
            reason = why.get(eq.a, "its equivalence class has contradictory orientations: every link in it is excluded")
            b.exclude(ExclusionKind.LINK_ORIENTATION_CONFLICT, subject, reason)
        else:
            b.add(Equivalent(eq.a, eq.b, eq.inverted, (eq.a, eq.b) in risky_pairs))


def _parities(graph: nx.Graph) -> dict[str, bool] | None:
    """Each contract's orientation relative to its class's first node (sorted), None on an odd cycle
    or a pair linked both ways."""
    edges = (
        (node, other, int(inverted))
        for node in sorted(graph.nodes)
        for other in sorted(graph.neighbors(node))
        for _, inverted in sorted(graph.edges[node, other]["subjects"])
    )
    parity = signed_parity(edges)
    if parity is None:
        return None
    return {node: bool(parity.get(node, 0)) for node in graph.nodes}


def market_listings(market: MarketInfo, cid: str) -> tuple[Listing, ...]:
    """Buying YES and NO of `market` as contract `cid`; none when the market cannot be traded (not
    open, no price bands or tokens, or an unknown taker fee)."""
    fee = market.taker_fee
    if not _tradable(market) or fee is None:
        return ()
    tick = min(band.step_micro_usd for band in market.price_bands)
    return tuple(
        Listing(
            instrument_id=f"{cid}:{side.value}",
            venue=market.venue,
            market_id=market.market_id,
            contract=cid,
            side=side,
            taker_fee=fee,
            lot_size_micro=market.lot_size_micro,
            tick_size_micro=tick,
            min_order_size_micro=market.min_order_size_micro,
            buy_amount_increment_micro_usd=market.buy_amount_increment_micro_usd,
            sell_amount_increment_micro_usd=market.sell_amount_increment_micro_usd,
        )
        for side in (Side.YES, Side.NO)
    )


_ORDER = {"ExactlyOne": 0, "AtMostOne": 1, "Implies": 2, "Equivalent": 3, "Conjunction": 4}
_EDGE_LABEL = {
    "ExactlyOne": "exactly_one",
    "AtMostOne": "at_most_one",
    "Implies": "implies",
    "Equivalent": "equivalent",
    "Conjunction": "conjunction",
}


def _relation_sort_key(relation: Relation) -> tuple[int, tuple[str, ...], str]:
    return (_ORDER[type(relation).__name__], relation_contracts(relation), repr(relation))


def build_graph(
    markets: Iterable[MarketInfo],
    events: Iterable[EventInfo] = (),
    links: Iterable[CuratedLink] = (),
    *,
    config: GraphConfig = GraphConfig(),
) -> MarketGraph:
    """The market graph of venue markets (plus the markets nested in `events`), their groups,
    strike and title ladders, conjunctions and curated links. Pure and deterministic."""
    events = tuple(events)
    b = _Builder(config)
    _collect_markets(b, markets, events)
    intervals = {cid: i for cid, m in b.markets.items() if (i := _strike_interval(m)) is not None}
    for _, group in sorted(_collect_groups(b, events).items(), key=lambda item: (item[0][0].value, item[0][1])):
        _group_relation(b, group, intervals)
    _ladders(b, intervals)
    _conjunctions(b)
    _links(b, links)

    relations = tuple(sorted(b.relations, key=_relation_sort_key))
    graph = nx.MultiGraph()
    graph.add_nodes_from(sorted(b.markets))
    for index, relation in enumerate(relations):
        members = relation_contracts(relation)
        if isinstance(relation, ExactlyOne | AtMostOne):
            members = tuple(sorted(members))
        label = _EDGE_LABEL[type(relation).__name__]
        for a, c in itertools.pairwise(members):
            graph.add_edge(a, c, relation=label, index=index)

    relations_of: dict[str, list[Relation]] = defaultdict(list)
    component_of: dict[str, str] = {}
    members_of: dict[str, tuple[str, ...]] = {}
    for nodes in nx.connected_components(graph):
        contracts = tuple(sorted(nodes))
        cid = component_id(contracts)
        members_of[cid] = contracts
        for node in contracts:
            component_of[node] = cid
    for relation in relations:
        relations_of[component_of[relation_contracts(relation)[0]]].append(relation)
    components = tuple(
        Component(
            id=cid,
            contracts=contracts,
            relations=tuple(relations_of[cid]),
            listings=tuple(listing for node in contracts for listing in market_listings(b.markets[node], node)),
        )
        for cid, contracts in sorted(members_of.items())
    )
    return MarketGraph(
        graph=graph,
        markets=dict(sorted(b.markets.items())),
        relations=relations,
        components=components,
        excluded=tuple(b.excluded),
        _component_of=component_of,
        _by_id={c.id: c for c in components},
    )
