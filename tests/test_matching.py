"""Cross-venue link suggestion (arb.matching): the FOMC 2024 fixtures, bucket and
threshold semantics, orientation, fail-closed behaviour and generalisation to non-FOMC pairs."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.domain import GroupInfo, GroupKind, MarketInfo, StrikeInfo, Venue
from arb.errors import ConfigError
from arb.links import Orientation, load_kalshi_markets_file, load_polymarket_markets_file
from arb.matching import (  # value-set algebra, checked directly
    Claim,
    Corpus,
    Interval,
    LinkSuggestion,
    PairAssessment,
    SuggestConfig,
    SuggestReport,
    _complement,
    _normalise,
    _on_grid,
    candidate_pairs,
    compare_claims,
    extract_dates,
    market_features,
    parse_claim,
    report_json,
    score_pair,
    suggest_links,
)

FIXTURES = Path(__file__).parent / "fixtures" / "cross_venue" / "fomc_2024"


# -- fixtures and builders ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fomc() -> tuple[list[MarketInfo], list[MarketInfo], list[dict[str, Any]]]:
    kalshi = load_kalshi_markets_file(FIXTURES / "kalshi_markets.json")
    polymarket = load_polymarket_markets_file(FIXTURES / "polymarket_markets.json")
    expected = json.loads((FIXTURES / "expected_pairs.json").read_text())["pairs"]
    return kalshi, polymarket, expected


@pytest.fixture(scope="module")
def templates(fomc) -> tuple[MarketInfo, MarketInfo]:
    kalshi, polymarket, _ = fomc
    return kalshi[0], polymarket[0]


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


class Markets:
    """Synthetic venue markets built from real decoded ones (fees, bands, ids replaced)."""

    def __init__(self, templates: tuple[MarketInfo, MarketInfo]) -> None:
        self.k0, self.p0 = templates
        self.n = 0

    def kalshi(
        self, title: str, label: str = "", rules: str = "", close: str = "2025-03-15T17:00:00", **kw
    ) -> MarketInfo:
        self.n += 1
        return replace(
            self.k0,
            market_id=kw.pop("ticker", f"KXSYN-{self.n}"),
            event_id="KXSYN",
            title=title,
            subtitle=label,
            rules_text=rules,
            close_time_ms=_ms(close),
            **kw,
        )

    def polymarket(
        self, title: str, label: str = "", rules: str = "", close: str = "2025-03-15T00:00:00", **kw
    ) -> MarketInfo:
        self.n += 1
        gamma = kw.pop("gamma", str(700_000 + self.n))
        fields = {"group": None, **kw}
        return replace(
            self.p0,
            market_id=f"0x{self.n:064x}",
            venue_market_id=gamma,
            event_id="9",
            title=title,
            subtitle=label,
            rules_text=rules,
            close_time_ms=_ms(close),
            **fields,
        )


@pytest.fixture()
def mk(templates) -> Markets:
    return Markets(templates)


def _only(report: SuggestReport) -> LinkSuggestion:
    assert len(report.pairs) == 1, report.pairs
    return report.pairs[0]


# -- the FOMC 2024 meetings ----------------------------------------------------------------------------
def test_fomc_precision_recall_and_orientation(fomc) -> None:
    kalshi, polymarket, expected = fomc
    report = suggest_links(kalshi, polymarket)
    truth = {(p["kalshi"], p["polymarket"]): p["orientation"] for p in expected}
    csv_truth = {
        pair
        for pair, _ in truth.items()
        if next(p for p in expected if (p["kalshi"], p["polymarket"]) == pair)["source"] != "synthesized"
    }
    suggested = [p for p in report.pairs if p.suggested]
    found = {(p.kalshi, p.polymarket) for p in suggested}

    precision = len(found & truth.keys()) / len(found)
    recall_all = len(found & truth.keys()) / len(truth)
    recall_csv = len(found & csv_truth) / len(csv_truth)
    assert len(truth) == 18 and len(csv_truth) == 16
    assert precision == 1.0
    assert recall_csv >= 0.9 and recall_all >= 0.9
    assert all(p.orientation.value == truth[(p.kalshi, p.polymarket)] for p in suggested)
    # one pair per market
    assert len({p.kalshi for p in suggested}) == len({p.polymarket for p in suggested}) == len(suggested)
    # every distractor that was scored failed closed: blocked by a conflict, low score
    rejected = [p for p in report.pairs if (p.kalshi, p.polymarket) not in truth]
    assert rejected and all(
        not p.suggested and p.score <= 0.2 and any(r.startswith("conflict:") for r in p.reasons) for p in rejected
    )
    assert min(p.score for p in suggested) - max(p.score for p in rejected) > 0.3


def test_fomc_distractor_buckets_are_told_apart(fomc) -> None:
    """ "25+ bps increase" is neither "Hike 25bps" nor "Hike >25bps"; "Cut >25bps" is "50+ bps decrease"."""
    kalshi, polymarket, _ = fomc
    by_key = {
        (p.kalshi, p.polymarket): p
        for p in suggest_links(kalshi, polymarket, config=SuggestConfig(pairs_per_market=30)).pairs
    }
    hike_plus = next(m for m in polymarket if m.subtitle == "25+ bps increase" and "September" in m.title)
    for suffix in ("H25", "H26"):
        pair = by_key[(f"FEDDECISION-24SEP-{suffix}", hike_plus.venue_market_id)]
        assert not pair.suggested and any("different buckets" in r for r in pair.reasons)
    cut_more = by_key[("FEDDECISION-24SEP-C26", "504069")]
    assert cut_more.suggested and any("step grid" in r for r in cut_more.reasons)
    cross_meeting = by_key[("FEDDECISION-24SEP-C25", "501305")]  # June's 25 bps cut
    assert not cross_meeting.suggested and any("dates differ" in r for r in cross_meeting.reasons)


def test_fomc_output_is_deterministic_under_input_order(fomc) -> None:
    kalshi, polymarket, _ = fomc
    baseline = report_json(suggest_links(kalshi, polymarket))
    rng = random.Random(7)
    for _ in range(2):
        k, p = list(kalshi), list(polymarket)
        rng.shuffle(k)
        rng.shuffle(p)
        assert report_json(suggest_links(k, p)) == baseline
    pairs = json.loads(baseline)["pairs"]
    assert pairs == sorted(pairs, key=lambda p: (-p["score"], p["kalshi"], p["polymarket"]))


def test_fomc_features_read_every_bucket(fomc) -> None:
    kalshi, polymarket, _ = fomc
    described = {f.key: f.claim.describe() for f in map(market_features, kalshi + polymarket) if f.claim is not None}
    assert len(described) == len(kalshi) + len(polymarket)
    assert described["FEDDECISION-24NOV-C26"] == described["1016489"] == "<= -50 bps"
    assert described["KXFEDDECISION-24DEC-H0"] == described["504587"] == "0 bps"  # "No cut/hike" and "No change"
    assert described["FEDDECISION-24MAY-H25"] == "25 bps" and described["985978"] == ">= 25 bps"


# -- bucket semantics -----------------------------------------------------------------------------------
def _claim(text: str, rate: bool = True) -> Claim:
    parsed = parse_claim(extract_dates(text, 2025)[1], rate_context=rate)
    assert parsed.claim is not None, (text, parsed.problem)
    return parsed.claim


HOLD = [
    "Hike 0bps",
    "No change",
    "No cut/hike",
    "Hold",
    "unchanged",
    "0bps",
    "Cut 0 bps",
    "Will the Fed hold rates steady?",
    "no cut or hike",
]


@pytest.mark.parametrize("text", HOLD)
def test_hold_phrases_are_one_bucket(text: str) -> None:
    assert compare_claims(_claim(text), _claim("No change")).relation == "same"


@pytest.mark.parametrize(
    ("a", "b", "relation"),
    [
        ("Cut 25bps", "25 bps decrease", "same"),
        ("Cut rates by 25bps", "decreases interest rates by 25 basis points", "same"),
        ("lower rates by 0.25%", "Cut 25 bps", "same"),
        ("Cut >25bps", "50+ bps decrease", "same"),  # > 25 is 50+ on the 25 bp grid
        ("Cut >25bps", "cut by 50 or more basis points", "same"),
        ("Hike 25bps", "25+ bps increase", "conflict"),  # "25+" is not "25"
        ("Hike >25bps", "25+ bps increase", "conflict"),  # ... and not "> 25"
        ("Hike >25bps", "raise by at least 50 bps", "same"),
        ("Cut 25bps", "Hike 25bps", "conflict"),
        ("Cut 25bps", "increase 25 bps", "conflict"),
        ("Cut 25bps", "Cut >25bps", "conflict"),
        ("No change", "Any change", "inverted"),
        ("No change", "Cut 25bps", "conflict"),
        ("Will the Fed cut rates?", "Will the Fed not cut rates?", "inverted"),
    ],
)
def test_rate_bucket_relations(a: str, b: str, relation: str) -> None:
    assert compare_claims(_claim(a), _claim(b)).relation == relation
    assert compare_claims(_claim(b), _claim(a)).relation == relation


@pytest.mark.parametrize(
    ("a", "b", "relation"),
    [
        ("above $100,000", "exceed $100k", "same"),
        ("above $100,000", "over 100,000 dollars", "same"),
        ("$100k or more", "at least $100,000", "same"),
        ("above $100,000", "at least $100,000", "same"),  # equal except at the boundary (discounted)
        ("stay above 5,000", "fall below 5000", "inverted"),
        ("above $100,000", "above $90,000", "conflict"),
        ("above 3%", "above $3", "conflict"),  # units differ
        ("between $90k and $100k", "from $90,000 to $100,000", "same"),
        ("85\u00b0F or above", "at least 85 degrees", "same"),
        ("up by 5%", "down by 5%", "conflict"),
    ],
)
def test_threshold_relations(a: str, b: str, relation: str) -> None:
    assert compare_claims(_claim(a, rate=False), _claim(b, rate=False)).relation == relation


def test_boundary_only_matches_are_discounted() -> None:
    exact = compare_claims(_claim("above $100,000", False), _claim("exceed $100k", False))
    boundary = compare_claims(_claim("above $100,000", False), _claim("at least $100,000", False))
    assert exact.factor == 1.0 and boundary.factor < 1.0 and "boundary" in boundary.detail


@pytest.mark.parametrize(
    "text",
    ["Cut 25bps or 50bps", "25 bps", "Hold or cut 25 bps", "cut and hike by 25 bps"],
)
def test_ambiguous_rate_texts_have_no_claim(text: str) -> None:
    parsed = parse_claim(text, rate_context=True)
    assert parsed.claim is None and parsed.problem


def test_dates_are_masked_and_read() -> None:
    dates, masked = extract_dates("Fed decreases rates by 25 bps after 2024 May meeting?", None)
    assert dates[0].describe() == "2024-05" and "2024" not in masked
    assert extract_dates("Bitcoin above $100,000 on March 15?", 2025)[0][0].describe() == "2025-03-15"
    assert extract_dates("scheduled for May 1, 2024", None)[0][0].describe() == "2024-05-01"
    assert extract_dates("settles 2025-03-15 at noon", None)[0][0].describe() == "2025-03-15"
    assert extract_dates("Will ETH be above 2000?", 2025)[0] == ()  # a threshold, not a year
    assert extract_dates("the market may close early", 2025)[0] == ()  # "may" the verb


# -- value-set algebra ----------------------------------------------------------------------------------
_bound = st.one_of(st.none(), st.integers(-6, 6).map(lambda i: D(i) * 25))
_interval = st.builds(Interval, _bound, _bound, st.booleans(), st.booleans())


def _contains(values, x: D) -> bool:
    for iv in values:
        above = iv.lower is None or x > iv.lower or (x == iv.lower and iv.lower_closed)
        below = iv.upper is None or x < iv.upper or (x == iv.upper and iv.upper_closed)
        if above and below:
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(st.lists(_interval, max_size=4))
def test_value_sets_normalise_and_complement(intervals: list[Interval]) -> None:
    fixed = [
        Interval(i.lower, i.upper, i.lower_closed, i.upper_closed)
        if i.lower is None or i.upper is None or i.lower <= i.upper
        else Interval(i.upper, i.lower, i.upper_closed, i.lower_closed)
        for i in intervals
    ]
    values = _normalise(fixed)
    assert _normalise(values) == values
    assert _complement(_complement(values)) == values
    step = D(25)
    points = [D(k) * step / 2 for k in range(-16, 17)]  # grid points and midpoints, incl. every bound
    for x in points:
        inside = any(_contains((i,), x) for i in fixed)
        assert _contains(values, x) == inside
        assert _contains(_complement(values), x) != inside
    grid = _on_grid(values, step)
    for k in range(-8, 9):
        on = any((lo is None or lo <= k) and (hi is None or k <= hi) for lo, hi in grid)
        assert on == _contains(values, D(k) * step)


# -- generalisation beyond the FOMC: synthetic pairs --------------------------------------------------------
BTC_KALSHI_RULES = (
    "If the price of Bitcoin is above $100,000 at 12:00 PM ET on March 15, 2025, then the market resolves to Yes."
)
BTC_POLY_RULES = (
    'This market will resolve to "Yes" if the Binance BTC/USDT 1 minute candle for 12:00 ET on March 15, 2025 has a final '
    'close price higher than $100,000. Otherwise, this market will resolve to "No".'
)


def test_bitcoin_pair_same(mk: Markets) -> None:
    k = mk.kalshi("Bitcoin above $100,000 on March 15?", rules=BTC_KALSHI_RULES)
    p = mk.polymarket("Will BTC exceed $100k on March 15, 2025?", rules=BTC_POLY_RULES)
    pair = _only(suggest_links([k], [p]))
    assert pair.suggested and pair.orientation is Orientation.SAME
    # "by" a date (touching the level before it) is another market: reported for review, never suggested
    by = mk.polymarket("Will BTC exceed $100k by March 15, 2025?", rules=BTC_POLY_RULES)
    pair = _only(suggest_links([k], [by], config=SuggestConfig(threshold=0.0)))
    assert not pair.suggested and any("timing differs" in r for r in pair.reasons)


def test_bitcoin_below_is_inverted(mk: Markets) -> None:
    k = mk.kalshi("Bitcoin at or below $100,000 on March 15?", rules=BTC_KALSHI_RULES.replace("above", "at or below"))
    p = mk.polymarket("Will BTC exceed $100k on March 15, 2025?", rules=BTC_POLY_RULES)
    pair = _only(suggest_links([k], [p]))
    assert pair.suggested and pair.orientation is Orientation.INVERTED
    # strictly below is no complement of strictly above: both settle NO at exactly $100,000
    strict = mk.kalshi("Bitcoin below $100,000 on March 15?", rules=BTC_KALSHI_RULES.replace("above", "below"))
    pair = _only(suggest_links([strict], [p], config=SuggestConfig(threshold=0.0)))
    assert pair.orientation is Orientation.INVERTED and not pair.suggested


def test_bitcoin_distractors_rejected(mk: Markets) -> None:
    k = mk.kalshi("Bitcoin above $100,000 on March 15?", rules=BTC_KALSHI_RULES)
    true = mk.polymarket("Will BTC exceed $100k on March 15, 2025?", rules=BTC_POLY_RULES)
    other_threshold = mk.polymarket(
        "Will BTC exceed $90k on March 15, 2025?", rules=BTC_POLY_RULES.replace("100,000", "90,000")
    )
    other_date = mk.polymarket(
        "Will BTC exceed $100k on March 22, 2025?",
        rules=BTC_POLY_RULES.replace("15", "22"),
        close="2025-03-22T00:00:00",
    )
    report = suggest_links([k], [other_threshold, true, other_date])
    by_id = {p.polymarket: p for p in report.pairs}
    assert by_id[true.venue_market_id].suggested
    assert not by_id[other_threshold.venue_market_id].suggested and by_id[other_threshold.venue_market_id].score <= 0.2
    assert not by_id[other_date.venue_market_id].suggested and by_id[other_date.venue_market_id].score <= 0.2


def test_stay_above_vs_fall_below_is_inverted(mk: Markets) -> None:
    rules_k = (
        "If the S&P 500 closes above 5,000 on every trading day through June 30, 2025, then the market resolves to Yes."
    )
    rules_p = 'This market will resolve to "Yes" if the S&P 500 closes at or below 5000 on any trading day by June 30, 2025. Otherwise "No".'
    k = mk.kalshi(
        "Will the S&P 500 stay above 5,000 through June 30, 2025?", rules=rules_k, close="2025-06-30T20:00:00"
    )
    p = mk.polymarket("S&P 500 falls to 5000 or below by June 30, 2025?", rules=rules_p, close="2025-06-30T00:00:00")
    pair = _only(suggest_links([k], [p]))
    assert pair.suggested and pair.orientation is Orientation.INVERTED
    # "falls below 5000" is not the complement of "stays above 5,000": a close at exactly 5000 is neither
    strict = mk.polymarket(
        "S&P 500 falls below 5000 by June 30, 2025?",
        rules=rules_p.replace("at or below", "below"),
        close="2025-06-30T00:00:00",
    )
    pair = _only(suggest_links([k], [strict], config=SuggestConfig(threshold=0.0)))
    assert (
        pair.orientation is Orientation.INVERTED
        and not pair.suggested
        and any("threshold itself" in r for r in pair.reasons)
    )


def test_no_change_vs_any_change_is_inverted(mk: Markets) -> None:
    k = mk.kalshi("Will the Federal Reserve hold rates at their March 2025 meeting?", "No change")
    p = mk.polymarket("Fed: any change to interest rates after the March 2025 meeting?", "Any change")
    pair = _only(suggest_links([k], [p]))
    assert pair.suggested and pair.orientation is Orientation.INVERTED


def test_negated_event_titles_are_inverted(mk: Markets) -> None:
    k = mk.kalshi("Will Trump win the 2024 presidential election?", close="2024-11-05T20:00:00")
    same = mk.polymarket("Donald Trump wins the 2024 US presidential election?", close="2024-11-05T00:00:00")
    negated = mk.polymarket("Donald Trump does not win the 2024 US presidential election?", close="2024-11-05T00:00:00")
    assert suggest_links([k], [same]).pairs[0].orientation is Orientation.SAME
    assert suggest_links([k], [negated]).pairs[0].orientation is Orientation.INVERTED


def test_next_trap_is_rejected(mk: Markets) -> None:
    """Field notes: ~200 false pairs passed a 0.5 token filter on the single word "next"."""
    config = SuggestConfig()
    traps = [
        (mk.kalshi("Next Pope: Cardinal Parolin?"), mk.polymarket("Next UK Prime Minister: Keir Starmer?")),
        (mk.kalshi("Who will be the next president?"), mk.polymarket("What will be the next big thing?")),
        (mk.kalshi("Next James Bond actor announced in March?"), mk.polymarket("Next Fed chair announced in March?")),
    ]
    for k, p in traps:
        features = [market_features(k), market_features(p)]
        assert candidate_pairs(features[:1], features[1:], config) == []  # never even scored
        scored = score_pair(features[0], features[1], Corpus.from_features(features), config)
        assert scored.blocked and scored.score <= 0.2, scored
        assert suggest_links([k], [p], config=SuggestConfig(threshold=0.0)).suggested == 0


# -- fail closed ---------------------------------------------------------------------------------------
def test_rules_contradicting_the_title_block_the_pair(mk: Markets) -> None:
    rules = "If the Federal Reserve cuts the upper bound of the federal funds target range by exactly 50 basis points at its March 2025 meeting, then the market resolves to Yes."
    k = mk.kalshi("Will the Federal Reserve Cut rates by 25bps at their March 2025 meeting?", "Cut 25bps", rules)
    p = mk.polymarket("Fed decreases interest rates by 25 bps after March 2025 meeting?", "25 bps decrease")
    pair = _only(suggest_links([k], [p], config=SuggestConfig(threshold=0.0)))
    assert not pair.suggested and any("rules say -50 bps" in r for r in pair.reasons)


def test_one_sided_or_unreadable_claims_are_never_suggested(mk: Markets) -> None:
    k = mk.kalshi("Will the Federal Reserve Cut rates by 25bps at their March 2025 meeting?", "Cut 25bps")
    vague = mk.polymarket("Fed decision after the March 2025 meeting?", "")
    other = mk.polymarket(
        "Fed decision after the March 2025 meeting?", "Other",
        group=GroupInfo("0xabc", GroupKind.NEG_RISK, exhaustive=False, augmented=True, label="Other"),
    )  # fmt: skip
    for p in (vague, other):
        pair = _only(suggest_links([k], [p], config=SuggestConfig(threshold=0.0)))
        assert not pair.suggested, pair


def test_kalshi_strike_metadata_is_a_claim(mk: Markets) -> None:
    k = mk.kalshi("Bitcoin price on March 15?", strike=StrikeInfo("greater", floor=D(100_000)))
    p_same = mk.polymarket("Will BTC be above $100,000 on March 15, 2025?")
    p_other = mk.polymarket("Will BTC be above $120,000 on March 15, 2025?")
    by_id = {p.polymarket: p for p in suggest_links([k], [p_same, p_other]).pairs}
    assert by_id[p_same.venue_market_id].suggested
    assert not by_id[p_other.venue_market_id].suggested


# -- one-to-one and ties -----------------------------------------------------------------------------------
def test_exact_tie_suggests_neither(mk: Markets) -> None:
    k = mk.kalshi("Bitcoin above $100,000 on March 15?", rules=BTC_KALSHI_RULES)
    twins = [mk.polymarket("Will BTC exceed $100k on March 15, 2025?", rules=BTC_POLY_RULES) for _ in range(2)]
    report = suggest_links([k], twins)
    assert report.suggested == 0 and all(any("tie" in r for r in p.reasons) for p in report.pairs)


def test_one_market_one_link_best_score_wins(mk: Markets) -> None:
    k = mk.kalshi("Bitcoin above $100,000 on March 15?", rules=BTC_KALSHI_RULES)
    best = mk.polymarket("Will BTC exceed $100k on March 15, 2025?", rules=BTC_POLY_RULES)
    weaker = mk.polymarket("Will BTC exceed $100k on March 15, 2025?", rules="")  # no rules text: lower score
    report = suggest_links([k], [weaker, best])
    top, second = report.pairs
    assert top.polymarket == best.venue_market_id and top.suggested
    assert (
        second.score > report.threshold and not second.suggested and any("already paired" in r for r in second.reasons)
    )


# -- verifier seam -------------------------------------------------------------------------------------
class VetoAll:
    def review(self, kalshi: MarketInfo, polymarket: MarketInfo, assessment: PairAssessment) -> PairAssessment:
        return replace(assessment, blocked=True, reasons=(*assessment.reasons, "verifier: vetoed"))


class Unblock:
    def review(self, kalshi: MarketInfo, polymarket: MarketInfo, assessment: PairAssessment) -> PairAssessment:
        return replace(assessment, blocked=False, score=0.99)


class WrongPair:
    def review(self, kalshi: MarketInfo, polymarket: MarketInfo, assessment: PairAssessment) -> PairAssessment:
        return replace(assessment, polymarket="someone-else")


def test_verifier_can_veto_but_never_unblock(fomc) -> None:
    kalshi, polymarket, _ = fomc
    assert suggest_links(kalshi, polymarket, verifier=VetoAll()).suggested == 0
    unblocked = suggest_links(kalshi, polymarket, verifier=Unblock())
    assert unblocked.suggested <= 18  # one pair per market still holds
    baseline = {(p.kalshi, p.polymarket) for p in suggest_links(kalshi, polymarket).pairs if p.suggested}
    assert {(p.kalshi, p.polymarket) for p in unblocked.pairs if p.suggested} <= baseline  # blocked pairs stay blocked
    with pytest.raises(ConfigError, match="changed the pair"):
        suggest_links(kalshi[:1], polymarket, verifier=WrongPair())


# -- candidate generation and input validation -------------------------------------------------------------
def _name(i: int) -> str:
    letters = "".join(chr(ord("a") + (i // 26**d) % 26) for d in range(3))
    return "Zor" + letters


def test_blocking_scales_with_candidates_not_pairs(mk: Markets) -> None:
    n = 300
    kalshi = [mk.kalshi(f"Will {_name(i)} win the championship on March 15?") for i in range(n)]
    polymarket = [mk.polymarket(f"{_name(i)} wins the championship by March 15, 2025?") for i in reversed(range(n))]
    kf, pf = [market_features(m) for m in kalshi], [market_features(m) for m in polymarket]
    candidates = candidate_pairs(kf, pf, SuggestConfig())
    assert len(candidates) == n  # shared "championship" is too common to block on; the names pair up
    assert all(kf[i].title.split()[1] == pf[j].title.split()[0] for i, j in candidates)


def test_close_window_limits_candidates(mk: Markets) -> None:
    k = mk.kalshi("Will Zorbaa win the championship on March 15?")
    far = mk.polymarket("Zorbaa wins the championship by March 15, 2027?", close="2027-03-15T00:00:00")
    features = [market_features(k), market_features(far)]
    assert candidate_pairs(features[:1], features[1:], SuggestConfig(max_close_gap_days=30)) == []


def test_bad_inputs_raise_config_errors(fomc) -> None:
    kalshi, polymarket, _ = fomc
    with pytest.raises(ConfigError, match="no markets"):
        suggest_links([], polymarket)
    with pytest.raises(ConfigError, match="no markets"):
        suggest_links(kalshi, [])
    with pytest.raises(ConfigError, match="listed twice"):
        suggest_links([kalshi[0], replace(kalshi[1], market_id=kalshi[0].market_id)], polymarket)
    with pytest.raises(ConfigError, match=r"Gamma id .* listed twice"):
        suggest_links(kalshi, [polymarket[0], replace(polymarket[1], venue_market_id=polymarket[0].venue_market_id)])
    with pytest.raises(ConfigError, match="no Gamma id"):
        suggest_links(kalshi, [replace(polymarket[0], venue_market_id="")])
    with pytest.raises(ConfigError, match="polymarket market"):
        suggest_links(polymarket, kalshi)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="threshold"):
            SuggestConfig(threshold=bad)
    assert kalshi[0].venue is Venue.KALSHI


class NanScore:
    def review(self, kalshi: MarketInfo, polymarket: MarketInfo, assessment: PairAssessment) -> PairAssessment:
        return replace(assessment, score=float("nan"))


def test_broken_verifier_fails_closed(fomc) -> None:
    kalshi, polymarket, _ = fomc
    report = suggest_links(kalshi, polymarket, verifier=NanScore())
    assert report.suggested == 0 and all(p.score == 0.0 for p in report.pairs)


# -- robustness: any venue text is read without crashing ------------------------------------------------------
_venue_text = st.text(
    alphabet=st.sampled_from(
        list("0123456789$%+<>=.,-/: bpsBPSkmKM°FCabove belowcut hike No change MayMarch2024Fed?\"'")
    ),
    max_size=80,
)


@settings(max_examples=80, deadline=None)
@given(
    title=_venue_text,
    label=_venue_text,
    rules=st.one_of(_venue_text, st.text(max_size=120)),
    other=st.text(max_size=60),
)
def test_arbitrary_texts_never_crash(templates, title: str, label: str, rules: str, other: str) -> None:
    k0, p0 = templates
    k = replace(k0, title=title, subtitle=label, rules_text=rules)
    p = replace(
        p0, title=other or title, subtitle=label, rules_text=f"If {title}, then the market resolves to Yes.", group=None
    )
    report = suggest_links([k], [p], config=SuggestConfig(threshold=0.0))
    for pair in report.pairs:
        assert 0.0 <= pair.score <= 1.0
        assert not pair.suggested or all(
            not r.startswith(("conflict", "ambiguous")) and "unreadable" not in r for r in pair.reasons
        )


# -- adversarial review: pairs that read alike but settle differently --------------------------------------
_ELECTION = {"kc": "2024-11-05T20:00:00", "pc": "2024-11-06T00:00:00"}
ADVERSARIAL = [
    # opposite wording around the same subject: never "same" (and not a clean inversion either)
    ("Will Bitcoin rise more than 5% in March 2025?", "Will Bitcoin fall more than 5% in March 2025?", {}),
    ("Will US unemployment increase in March 2025?", "Will US unemployment decrease in March 2025?", {}),
    ("Will the Senate pass the SAVE Act in 2025?", "Will the SAVE Act fail in the Senate in 2025?", {}),
    ("Will Trump win the 2024 presidential election?", "Will Trump lose the 2024 presidential election?", _ELECTION),
    ("Will Biden drop out before July 2024?", "Will Biden drop out after July 2024?", {}),
    # periods, ordinals, versions and name suffixes that token similarity cannot see
    ("Will US GDP grow more than 2% in Q1 2025?", "Will US GDP grow more than 2% in Q2 2025?", {}),
    (
        "Will Apple release a foldable iPhone in the first half of 2025?",
        "Will Apple release a foldable iPhone in the second half of 2025?",
        {},
    ),
    ("Will the Lakers reach the 2nd round in 2025?", "Will the Lakers reach the 3rd round in 2025?", {}),
    ("Will OpenAI release GPT-5 in 2025?", "Will OpenAI release GPT-6 in 2025?", {}),
    (
        "Will Donald Trump Jr. run for president in 2028?",
        "Will Donald Trump run for president in 2028?",
        {"kc": "2028-11-05T20:00:00", "pc": "2028-11-06T00:00:00"},
    ),
    # a price at a date versus touching it before the date
    ("Will Bitcoin be above $100,000 on March 15, 2025?", "Will Bitcoin reach $100,000 by March 15, 2025?", {}),
    # units and boundaries
    (
        "Will the high in NYC be above 30 degrees F on March 15, 2025?",
        "Will the high in NYC be above 30 degrees C on March 15, 2025?",
        {},
    ),
    (
        "Will Tesla deliver at least 500,000 cars on March 15, 2025?",
        "Will Tesla deliver more than 500,000 cars on March 15, 2025?",
        {},
    ),
    (
        "Will the high temp in NYC be 80° or above on March 15, 2025?",
        "Will the high temp in NYC be above 80°F on March 15, 2025?",
        {},
    ),
    # the same parties, compared the other way round
    ("Will the Lakers beat the Celtics on March 15, 2025?", "Will the Celtics beat the Lakers on March 15, 2025?", {}),
    ("Will Trump get more votes than Harris in 2024?", "Will Harris get more votes than Trump in 2024?", _ELECTION),
    # two negations are not one
    ("Will Biden not fail to finish his term in 2025?", "Will Biden finish his term in 2025?", {}),
]


@pytest.mark.parametrize(("k_title", "p_title", "close"), ADVERSARIAL, ids=[a[0][:40] for a in ADVERSARIAL])
def test_adversarial_look_alikes_are_never_suggested(
    mk: Markets, k_title: str, p_title: str, close: dict[str, str]
) -> None:
    k = mk.kalshi(k_title, close=close.get("kc", "2025-03-15T17:00:00"))
    p = mk.polymarket(p_title, close=close.get("pc", "2025-03-15T00:00:00"))
    for kalshi, polymarket in ((k, p), (replace(k, title=p_title), replace(p, title=k_title))):
        report = suggest_links([kalshi], [polymarket], config=SuggestConfig(threshold=0.0))
        assert report.suggested == 0, report.pairs  # blocked: no threshold lets it through


@pytest.mark.parametrize(
    ("k_label", "p_label"),
    [("Someone else", "Someone else"), ("Person A", "Person B"), ("Any other candidate", "Field")],
)
def test_placeholder_outcomes_are_never_suggested(mk: Markets, k_label: str, p_label: str) -> None:
    """Their meaning depends on which names the rest of each venue's group lists, group or not."""
    k = mk.kalshi("Zorbian presidential election 2025 winner?", k_label)
    p = mk.polymarket("Zorbian presidential election 2025 winner?", p_label)
    report = suggest_links([k], [p], config=SuggestConfig(threshold=0.0))
    assert report.suggested == 0 and any("placeholder" in r or "Other" in r for r in report.pairs[0].reasons)


def test_polymarket_outcomes_other_than_yes_no_block_the_pair(mk: Markets) -> None:
    """The YES token is the first outcome ("Celtics" here): orientation cannot be read from titles."""
    k = mk.kalshi("Will the Lakers beat the Celtics on March 15, 2025?")
    p = mk.polymarket("Will the Lakers beat the Celtics on March 15, 2025?", outcome_labels=("Celtics", "Lakers"))
    report = suggest_links([k], [p], config=SuggestConfig(threshold=0.0))
    assert report.suggested == 0 and any("outcomes" in r for r in report.pairs[0].reasons)
    yes_no = mk.polymarket("Will the Lakers beat the Celtics on March 15, 2025?", outcome_labels=("YES", "NO"))
    assert suggest_links([k], [yes_no]).suggested == 1


def test_true_pairs_with_opposite_words_keep_their_inversion(mk: Markets) -> None:
    """Opposite direction words are consistent with complementary claims ("rise above" vs "fall to
    or below"), so exact inversions are still found."""
    k = mk.kalshi("Will Bitcoin rise above $100,000 on March 15, 2025?")
    p = mk.polymarket("Will Bitcoin fall to $100,000 or below on March 15, 2025?")
    pair = _only(suggest_links([k], [p]))
    assert pair.suggested and pair.orientation is Orientation.INVERTED


def test_candidate_fallback_key_is_chosen_deterministically(mk: Markets) -> None:
    """When every blocking key of a market is too common, the fallback must not depend on set
    iteration order (string hashing differs from run to run)."""
    config = SuggestConfig(block_key_min_cap=1, block_key_max_share=0.01)
    words = [
        "Alpha",
        "Bravo",
        "Charlie",
        "Delta",
        "Echo",
        "Foxtrot",
        "Golf",
        "Hotel",
        "India",
        "Juliet",
        "Kilo",
        "Lima",
    ]
    for a, b in zip(words[::2], words[1::2], strict=True):
        polymarket = [mk.polymarket(f"{a} {i}x story?") for i in range(3)] + [
            mk.polymarket(f"{b} {i}x story?") for i in range(3)
        ]
        kalshi = [mk.kalshi(f"{a} {b} tale?")]
        kf, pf = [market_features(m) for m in kalshi], [market_features(m) for m in polymarket]
        chosen = {pf[j].title.split()[0] for _, j in candidate_pairs(kf, pf, config)}
        assert chosen == {min(a, b)}, (a, b, chosen)  # equal-sized lists: the key that sorts first


def test_a_negated_direction_word_agrees_with_an_equal_claim(mk: Markets) -> None:
    k = mk.kalshi("Will Bitcoin not be below $100,000 on March 15, 2025?")
    p = mk.polymarket("Will Bitcoin be at or above $100,000 on March 15, 2025?")
    pair = _only(suggest_links([k], [p]))
    assert pair.suggested and pair.orientation is Orientation.SAME
    rising = mk.polymarket("Will Bitcoin not rise more than 5% in March 2025?")
    falling = mk.kalshi(
        "Will Bitcoin fall more than 5% in March 2025?"
    )  # not the complement of "not rise more than 5%"
    assert suggest_links([falling], [rising], config=SuggestConfig(threshold=0.0)).suggested == 0
