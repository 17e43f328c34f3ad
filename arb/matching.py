"""Cross-venue link suggestion (`arb links suggest`): rank Kalshi x Polymarket pairs of binary markets
that may settle identically ("same") or exactly oppositely ("inverted"), with a score and the reasons.

Only deterministic features, read from the domain `MarketInfo` of both venues:

- normalised title tokens (title + bucket label; lowercase, stopwords out, light stemming, entity
  synonyms folded: "Fed" / "Federal Reserve" / "FOMC" are one token), TF-IDF cosine;
- entities (capitalised names and a small synonym table of market vocabulary): disjoint entity sets
  mean different subjects;
- dates in the text ("May 2024", "2024 May", "March 15", ISO dates) and the close-time gap;
- the *claim*: the set of values of one quantity for which the market resolves YES, as a union of
  intervals. Numbers carry units (bps, %, $, degrees, k/m/b suffixes, glued "25bps"), comparisons
  ("above", ">", "+", "or more", "at least") and, for rate decisions, a direction (cut/decrease/lower
  vs hike/increase/raise; "hold", "no change", "0bps", "no cut/hike" are the zero change). Policy
  rates move in 25 bp steps, so claims about them are compared on that grid: "Cut >25bps" is
  "50+ bps decrease", while "25+ bps increase" is neither "Hike 25bps" nor "Hike >25bps";
- rules-text similarity (TF-IDF cosine) and the rules' own "resolves Yes if" clause, which must not
  contradict the title.

Orientation comes from the claims: equal sets are "same"; one set equal to the other's complement
is "inverted" ("No change" vs "Any change", "stay above k" vs "fall to k or below"). Fail closed: a
pair whose dates, entities or claims conflict gets a low score whatever its token overlap, and a
pair with an unreadable or ambiguous claim is `blocked` (never suggested, whatever the threshold).
Token similarity cannot see what makes look-alikes different, so these block a pair too:
opposite wording ("win"/"lose", "rise"/"fall", "pass"/"fail", "before"/"after"; direction words
are fine when the claims are complements), identifiers with digits or ordinals ("Q1"/"Q2",
"GPT-5", "2nd round", "first half", "Jr."), the compared parties in another order ("A beat B"
vs "B beat A"), claims equal only up to the threshold point (">" vs ">=": the value can land on
it), "on" a date vs "by" a date, two negations, placeholder outcomes ("Other", "Someone else",
"Person A") and Polymarket outcomes other than Yes/No (which token is YES is not in the title). A
market is suggested in at most one pair; conflicts are resolved by score and exact ties suggest
neither. A pluggable `Verifier` (a model-based checker, later) may veto or re-score a pair; it can
never lift a deterministic block.
"""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

from arb.domain import PLACEHOLDER_OUTCOME_LABEL, MarketInfo, Venue
from arb.errors import ArbError, ConfigError
from arb.files import write_text_atomically
from arb.links import Orientation, load_kalshi_markets_file, load_polymarket_markets_file

__all__ = [
    "Claim",
    "ClaimMatch",
    "ClaimParse",
    "Corpus",
    "DateMention",
    "Interval",
    "LinkSuggestion",
    "MarketFeatures",
    "NoVerifier",
    "PairAssessment",
    "SuggestConfig",
    "SuggestReport",
    "Verifier",
    "candidate_pairs",
    "compare_claims",
    "extract_dates",
    "format_report",
    "market_features",
    "parse_claim",
    "report_json",
    "run_suggest",
    "score_pair",
    "suggest_links",
]

DAY_MS = 86_400_000


# -- configuration ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SuggestConfig:
    """Knobs of the suggester. Scores are in [0, 1]; `suggested` means score > `threshold`.

    threshold: approval threshold. Measured on the FOMC 2024 fixtures: true pairs 0.76-0.78, every
        other pair <= 0.16 (conflicts are capped at 0.2); synthetic non-FOMC true pairs 0.63-0.90
    rate_step_bps: the step policy rates move in; rate-change claims are compared on this grid
    max_close_gap_days: candidate pairs whose close times are further apart are never scored
    block_key_max_share, block_key_min_cap: a blocking key (entity or title token) listed by more
        than max(min_cap, max_share x Polymarket markets) markets is too common to block on
    pairs_per_market: the report keeps, for every market, its best this-many pairs
    weight_*: the base score's mix (they sum to 1)
    """

    threshold: float = 0.6
    rate_step_bps: int = 25
    max_close_gap_days: float = 400.0
    block_key_max_share: float = 0.05
    block_key_min_cap: int = 50
    pairs_per_market: int = 5
    weight_title: float = 0.5
    weight_entities: float = 0.2
    weight_rules: float = 0.15
    weight_dates: float = 0.15

    def __post_init__(self) -> None:
        if not (
            isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold) and 0.0 <= self.threshold < 1.0
        ):
            raise ConfigError(f"threshold must be a number in [0, 1), was {self.threshold!r}")
        if self.rate_step_bps <= 0:
            raise ConfigError(f"rate_step_bps must be positive, was {self.rate_step_bps!r}")
        if (
            not self.max_close_gap_days > 0
            or not 0 < self.block_key_max_share <= 1
            or self.block_key_min_cap < 1
            or self.pairs_per_market < 1
        ):
            raise ConfigError(
                "max_close_gap_days, block_key_max_share, block_key_min_cap and pairs_per_market must be positive"
            )
        weights = (self.weight_title, self.weight_entities, self.weight_rules, self.weight_dates)
        if any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-9:
            raise ConfigError(f"score weights must be >= 0 and sum to 1, were {weights}")


# -- value sets: the values of a quantity for which a market resolves YES ----------------------------
@dataclass(frozen=True, slots=True)
class Interval:
    """An interval of the real line; `None` bounds are infinite (and then open)."""

    lower: Decimal | None
    upper: Decimal | None
    lower_closed: bool = False
    upper_closed: bool = False


ValueSet = tuple[Interval, ...]  # sorted, disjoint, non-empty, non-touching intervals
_REAL_LINE: ValueSet = (Interval(None, None),)


def _point(value: Decimal) -> Interval:
    return Interval(value, value, True, True)


def _empty(iv: Interval) -> bool:
    if iv.lower is None or iv.upper is None:
        return False
    return iv.lower > iv.upper or (iv.lower == iv.upper and not (iv.lower_closed and iv.upper_closed))


def _normalise(intervals: Iterable[Interval]) -> ValueSet:
    """Sort, drop empties and merge overlapping or touching intervals (the canonical form that makes
    equal sets compare equal)."""
    items = [
        Interval(i.lower, i.upper, i.lower_closed and i.lower is not None, i.upper_closed and i.upper is not None)
        for i in intervals
        if not _empty(i)
    ]
    items.sort(key=lambda i: (i.lower is not None, i.lower if i.lower is not None else Decimal(0), not i.lower_closed))
    merged: list[Interval] = []
    for iv in items:
        if merged:
            last = merged[-1]
            touches = (
                last.upper is None
                or iv.lower is None
                or iv.lower < last.upper
                or (iv.lower == last.upper and (iv.lower_closed or last.upper_closed))
            )
            if touches:
                upper = max(last, iv, key=_upper_key)
                merged[-1] = Interval(last.lower, upper.upper, last.lower_closed, upper.upper_closed)
                continue
        merged.append(iv)
    return tuple(merged)


def _upper_key(iv: Interval) -> tuple[bool, Decimal, bool]:
    return (iv.upper is None, iv.upper if iv.upper is not None else Decimal(0), iv.upper_closed)


def _complement(values: ValueSet) -> ValueSet:
    gaps: list[Interval] = []
    lower, lower_closed = None, False
    for iv in values:
        if iv.lower is not None:
            gaps.append(Interval(lower, iv.lower, lower_closed, not iv.lower_closed))
        if iv.upper is None:
            return _normalise(gaps)
        lower, lower_closed = iv.upper, not iv.upper_closed
    gaps.append(Interval(lower, None, lower_closed, False))
    return _normalise(gaps)


def _closure(values: ValueSet) -> ValueSet:
    return _normalise(Interval(i.lower, i.upper, True, True) for i in values)


def _scale(values: ValueSet, factor: Decimal) -> ValueSet:
    """Multiply every value by `factor` (negative factors reflect the set)."""
    out = []
    for iv in values:
        a = None if iv.lower is None else iv.lower * factor
        b = None if iv.upper is None else iv.upper * factor
        if factor < 0:
            out.append(Interval(b, a, iv.upper_closed, iv.lower_closed))
        else:
            out.append(Interval(a, b, iv.lower_closed, iv.upper_closed))
    return _normalise(out)


def _intersect_nonnegative(values: ValueSet) -> ValueSet:
    zero = Decimal(0)
    out = []
    for iv in values:
        if iv.upper is not None and (iv.upper < zero or (iv.upper == zero and not iv.upper_closed)):
            continue
        if iv.lower is None or iv.lower < zero:
            out.append(Interval(zero, iv.upper, True, iv.upper_closed))
        else:
            out.append(iv)
    return _normalise(out)


GridSet = tuple[tuple[int | None, int | None], ...]  # inclusive index ranges on a step grid


def _on_grid(values: ValueSet, step: Decimal) -> GridSet:
    """The grid points k * step inside the set, as merged inclusive index ranges."""
    ranges: list[tuple[int | None, int | None]] = []
    for iv in values:
        lo: int | None = None
        hi: int | None = None
        if iv.lower is not None:
            q = iv.lower / step
            lo = (
                int(q.to_integral_value(ROUND_CEILING))
                if iv.lower_closed
                else int(q.to_integral_value(ROUND_FLOOR)) + 1
            )
        if iv.upper is not None:
            q = iv.upper / step
            hi = (
                int(q.to_integral_value(ROUND_FLOOR))
                if iv.upper_closed
                else int(q.to_integral_value(ROUND_CEILING)) - 1
            )
        if lo is not None and hi is not None and lo > hi:
            continue
        if ranges and (ranges[-1][1] is None or lo is None or lo <= ranges[-1][1] + 1):
            prev_lo, prev_hi = ranges[-1]
            ranges[-1] = (prev_lo, None if prev_hi is None or hi is None else max(prev_hi, hi))
        else:
            ranges.append((lo, hi))
    return tuple(ranges)


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def _describe_interval(iv: Interval, unit: str) -> str:
    u = f" {unit}" if unit else ""
    if iv.lower is not None and iv.upper is not None:
        if iv.lower == iv.upper:
            return f"{_num(iv.lower)}{u}"
        return (
            f"{'[' if iv.lower_closed else '('}{_num(iv.lower)}, {_num(iv.upper)}{']' if iv.upper_closed else ')'}{u}"
        )
    if iv.lower is not None:
        return f"{'>=' if iv.lower_closed else '>'} {_num(iv.lower)}{u}"
    if iv.upper is not None:
        return f"{'<=' if iv.upper_closed else '<'} {_num(iv.upper)}{u}"
    return "any value"


def _describe_values(values: ValueSet, unit: str) -> str:
    if not values:
        return "nothing"
    if (
        (
            len(values) == 2
            and values[0].lower is None
            and values[1].upper is None
            and values[0].upper == values[1].lower
            and values[0].upper is not None
        )
        and not values[0].upper_closed
        and not values[1].lower_closed
    ):
        return f"!= {_num(values[0].upper)}{' ' + unit if unit else ''}"
    return " or ".join(_describe_interval(iv, unit) for iv in values)


def _describe_grid(grid: GridSet, step: Decimal, unit: str) -> str:
    u = f" {unit}" if unit else ""
    parts = []
    for lo, hi in grid:
        if lo is not None and hi is not None:
            parts.append(f"{_num(lo * step)}{u}" if lo == hi else f"{_num(lo * step)}..{_num(hi * step)}{u}")
        elif lo is not None:
            parts.append(f">= {_num(lo * step)}{u}")
        elif hi is not None:
            parts.append(f"<= {_num(hi * step)}{u}")
        else:
            parts.append("any value")
    if (
        len(grid) == 2
        and grid[0][0] is None
        and grid[1][1] is None
        and grid[0][1] is not None
        and grid[1][0] == grid[0][1] + 2
    ):
        return f"!= {_num((grid[0][1] + 1) * step)}{u}"
    return " or ".join(parts) if parts else "nothing"


# -- claims -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claim:
    """What a market says YES to: `values` of one quantity.

    axis: "change" (a move by an amount: rate decisions, "up 5%") or "level" (a threshold on a value)
    unit: "bps", "pct", "usd", "degf", "degc", "deg" (scale not stated) or "" (unknown: compatible
        with any unit, at a discount)
    grid_step: set for policy-rate changes, whose values are compared on this grid (in `unit`)
    """

    axis: str
    unit: str
    values: ValueSet
    grid_step: Decimal | None = None

    def describe(self) -> str:
        if self.grid_step is not None:
            return _describe_grid(_on_grid(self.values, self.grid_step), self.grid_step, self.unit)
        return _describe_values(self.values, self.unit)


@dataclass(frozen=True, slots=True)
class ClaimMatch:
    """How two claims relate: `relation` is "same", "inverted" or "conflict"; `factor` in (0, 1]
    discounts matches that hold only on the rate grid, up to a boundary point, or with a unit
    missing on one side; `detail` says why. `exact` is False when the sets differ at a threshold
    point (">" vs ">="): the markets then settle differently when the value lands on it, which for
    counts, degrees, prints in 0.1% and prices in cents is an outcome that happens."""

    relation: str
    factor: float
    detail: str
    exact: bool = True


_UNIT_SCALE = {("pct", "bps"): Decimal(100)}


def _comparable(a: Claim, b: Claim) -> tuple[Claim, Claim] | None:
    """The two claims in one unit, or None when their units cannot be compared."""
    if a.unit == b.unit or not a.unit or not b.unit:
        return a, b
    if {a.unit, b.unit} in ({"deg", "degf"}, {"deg", "degc"}):  # the scale is stated on one side only
        return a, b
    if (a.unit, b.unit) in _UNIT_SCALE:
        k = _UNIT_SCALE[(a.unit, b.unit)]
        return replace(a, unit=b.unit, values=_scale(a.values, k)), b
    if (b.unit, a.unit) in _UNIT_SCALE:
        k = _UNIT_SCALE[(b.unit, a.unit)]
        return a, replace(b, unit=a.unit, values=_scale(b.values, k))
    return None


def compare_claims(a: Claim, b: Claim) -> ClaimMatch:
    """Relate two claims about the same subject: same set, complementary sets, or anything else."""
    if a.axis != b.axis:
        return ClaimMatch(
            "conflict", 0.0, f"one claims a {a.axis}, the other a {b.axis}: {a.describe()} vs {b.describe()}"
        )
    both = _comparable(a, b)
    if both is None:
        return ClaimMatch("conflict", 0.0, f"units differ: {a.describe()} vs {b.describe()}")
    a, b = both
    factor, notes = 1.0, []
    if bool(a.unit) != bool(b.unit):
        factor, notes = 0.9, [f"unit stated on one side only ({a.unit or b.unit})"]
    elif a.unit != b.unit:
        factor, notes = 0.9, [f"temperature scale stated on one side only ({a.unit} vs {b.unit})"]
    step = a.grid_step or b.grid_step
    if step is not None:
        ga, gb = _on_grid(a.values, step), _on_grid(b.values, step)
        for relation, other, exact_other in (
            ("same", gb, b.values),
            ("inverted", _on_grid(_complement(b.values), step), _complement(b.values)),
        ):
            if ga == other:
                if a.values != exact_other:
                    factor *= 0.97
                    notes.append(f"equal on the {_num(step)} {a.unit or b.unit} step grid")
                shown = (
                    f"{a.describe()} on both"
                    if relation == "same"
                    else f"{a.describe()} vs {b.describe()} (complements)"
                )
                return ClaimMatch(relation, factor, "; ".join([shown, *notes]))
        return ClaimMatch("conflict", 0.0, f"different buckets: {a.describe()} vs {b.describe()}")
    comp_b = _complement(b.values)
    if a.values == b.values:
        return ClaimMatch("same", factor, "; ".join([f"{a.describe()} on both", *notes]))
    if a.values == comp_b:
        return ClaimMatch("inverted", factor, "; ".join([f"{a.describe()} vs {b.describe()} (complements)", *notes]))
    # Equal up to finitely many boundary points (">" vs ">="): same event except at the exact threshold.
    comp_a = _complement(a.values)
    if _closure(a.values) == _closure(b.values) and _closure(comp_a) == _closure(comp_b):
        detail = f"{a.describe()} vs {b.describe()}: equal except at the boundary (check settlement at the threshold)"
        return ClaimMatch("same", factor * 0.9, "; ".join([detail, *notes]), exact=False)
    if _closure(a.values) == _closure(comp_b) and _closure(comp_a) == _closure(b.values):
        detail = (
            f"{a.describe()} vs {b.describe()}: complements except at the boundary (check settlement at the threshold)"
        )
        return ClaimMatch("inverted", factor * 0.9, "; ".join([detail, *notes]), exact=False)
    return ClaimMatch("conflict", 0.0, f"different thresholds or buckets: {a.describe()} vs {b.describe()}")


# -- text normalisation --------------------------------------------------------------------------------
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_RE = "(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
_WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

# Market vocabulary whose spellings differ across venues; each becomes one canonical token.
_SYNONYMS: tuple[tuple[str, str, bool], ...] = (
    (r"federal open market committee|federal reserve(?: board)?|fomc|the fed|fed", "fed", False),
    (r"european central bank|ecb", "ecb", False),
    (r"bank of england|boe", "boe", False),
    (r"bank of japan|boj", "boj", False),
    (r"bitcoin|btc", "bitcoin", False),
    (r"ethereum|ether|eth", "ethereum", False),
    (r"solana", "solana", False),
    (r"s\s?&\s?p\s?500|s\s?&\s?p|spx|sp500", "spx", False),
    (r"nasdaq(?:[\s-]?100| composite)?|ndx", "nasdaq", False),
    (r"dow jones(?: industrial average)?|djia", "dow", False),
    (r"consumer price index|cpi", "cpi", False),
    (r"gross domestic product|gdp", "gdp", False),
    (r"united states(?: of america)?|u\.s\.a\.?|u\.s\.|usa", "usa", False),
    (r"US", "usa", True),
    (r"new york city|nyc", "nyc", False),
    (r"united kingdom|great britain|britain|u\.k\.", "uk", False),
    (r"UK", "uk", True),
)  # fmt: skip
_SYNONYM_RES = tuple(
    (re.compile(rf"(?<![\w&])(?:{pattern})(?![\w&])", 0 if case else re.IGNORECASE), canon)
    for pattern, canon, case in _SYNONYMS
)

_STOPWORDS = frozenset((
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "and", "or", "as", "is", "are",
    "be", "been", "being", "was", "were", "will", "would", "shall", "should", "can", "could", "may", "might",
    "must", "do", "does", "did", "has", "have", "had", "this", "that", "these", "those", "it", "its", "their",
    "his", "her", "they", "them", "he", "she", "we", "you", "i", "what", "which", "who", "whom", "whose", "when",
    "where", "why", "how", "than", "then", "there", "if", "into", "about", "after", "before", "during", "over",
    "under", "between", "through", "per", "vs", "versus", "via", "any", "each",
))  # fmt: skip
# Words that never establish a shared subject on their own (the "next" false-pair trap and kin).
_GENERIC = frozenset((
    "next", "new", "win", "wins", "winner", "won", "first", "last", "top", "most", "least", "best", "worst",
    "happen", "happens", "market", "markets", "price", "prices", "value", "level", "end", "ends", "close", "closes",
    "open", "opens", "day", "days", "week", "weeks", "month", "months", "year", "years", "today", "tomorrow",
    "tonight", "date", "time", "times", "number", "total", "official", "officially", "announce", "announced", "say",
    "says", "said", "become", "becomes", "remain", "remains", "stay", "stays", "still", "yes", "no", "other",
    "others", "another", "meeting", "meet", "reach", "hit", "get", "gets", "make", "makes", "take", "takes", "big",
    "large", "small", "high", "low",
))  # fmt: skip
_CLAIM_WORDS = frozenset((
    "cut", "cuts", "cutting", "decrease", "decreases", "decreased", "decreasing", "lower", "lowers", "lowered",
    "lowering", "reduce", "reduces", "reduced", "reduction", "ease", "eases", "easing", "hike", "hikes", "hiked",
    "hiking", "raise", "raises", "raised", "raising", "increase", "increases", "increased", "increasing", "rise",
    "rises", "rising", "fall", "falls", "falling", "drop", "drops", "dropping", "decline", "declines", "gain",
    "gains", "up", "down", "hold", "holds", "holding", "unchanged", "change", "changes", "pause", "steady", "above",
    "below", "over", "under", "exceed", "exceeds", "exceeded", "exceeding", "more", "less", "greater", "fewer",
    "higher", "least", "most", "exactly", "between", "bps", "bp", "basis", "point", "points", "percent",
    "percentage", "pct", "dollar", "dollars", "usd", "cent", "cents", "degree", "degrees", "fahrenheit", "celsius",
    "not", "never", "fail", "fails", "no", "yes",
))  # fmt: skip
_NON_ENTITY = (
    _STOPWORDS
    | _GENERIC
    | _CLAIM_WORDS
    | frozenset(_MONTHS)
    | _WEEKDAYS
    | {"will", "who", "what", "which", "yes", "no", "rate", "rates", "interest"}
)

_WORD = re.compile(r"[A-Za-z][A-Za-z'&\-]*")


def _fold(text: str) -> str:
    """Unicode-normalised text with the symbols the parsers key on spelled one way."""
    text = unicodedata.normalize("NFKC", text)
    for old, new in (
        ("\u2265", ">="),
        ("\u2264", "<="),
        ("\u2212", "-"),
        ("\u2013", "-"),
        ("\u2014", "-"),
        ("\u2019", "'"),
        ("\u201c", '"'),
        ("\u201d", '"'),
        ("\u00a0", " "),
    ):
        text = text.replace(old, new)
    return text


def _stem(word: str) -> str:
    """Light stemming: plural and verb endings, so "rates"/"rate" and "meeting"/"meet" agree."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_GENERIC_STEMS = _GENERIC | frozenset(_stem(w) for w in _GENERIC)


def _apply_synonyms(text: str) -> tuple[str, set[str]]:
    found: set[str] = set()
    for regex, canon in _SYNONYM_RES:

        def sub(_m: re.Match[str], canon: str = canon) -> str:
            found.add(canon)
            return f" {canon.upper()} "

        text = regex.sub(sub, text)
    return text, found


# -- dates ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DateMention:
    """A date named in a title; unknown parts are None (a missing year is taken from the close time)."""

    year: int | None
    month: int | None
    day: int | None

    def compatible(self, other: DateMention) -> bool:
        return all(
            a is None or b is None or a == b
            for a, b in ((self.year, other.year), (self.month, other.month), (self.day, other.day))
        )

    def describe(self) -> str:
        parts = [f"{self.year:04d}" if self.year is not None else "????"]
        if self.month is not None:
            parts.append(f"{self.month:02d}")
            if self.day is not None:
                parts.append(f"{self.day:02d}")
        return "-".join(parts)


_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"((?:19|20)\d{2})"
_DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\b{_YEAR}-(\d{{2}})-(\d{{2}})\b"), "ymd"),
    (re.compile(rf"\b({_MONTH_RE})\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE), "mdy"),
    (re.compile(rf"\b{_DAY}\s+({_MONTH_RE}),?\s+{_YEAR}\b", re.IGNORECASE), "dmy"),
    (re.compile(rf"\b({_MONTH_RE}),?\s+{_YEAR}\b", re.IGNORECASE), "my"),
    (re.compile(rf"\b{_YEAR}\s+({_MONTH_RE})", re.IGNORECASE), "ym"),
    (
        re.compile(
            rf"\b({_MONTH_RE})\s+{_DAY}\b(?!\s*(?:[.,]\d|%|bps?\b|k\b|m\b|basis|percent|,\s*\d))", re.IGNORECASE
        ),
        "md",
    ),
    (re.compile(rf"\b{_DAY}\s+({_MONTH_RE})", re.IGNORECASE), "dm"),
    (re.compile(r"(?<![\w$.,])((?:19|20)\d{2})(?![\w%]|\s*(?:bps?|basis|percent|dollars?)\b|,\d)"), "y"),
)
_TIME_RE = re.compile(
    r"\b\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?(?:\s*(?:et|est|edt|utc|gmt|pt|pst|pdt|ct|cst))?\b|\b\d{1,2}\s*[ap]\.?m\.?\b",
    re.IGNORECASE,
)
_BARE_MONTH_RE = re.compile(r"\b(January|February|March|April|June|July|August|September|October|November|December)\b")


def _month(text: str) -> int:
    return _MONTHS[text.lower().rstrip(".")]


def extract_dates(text: str, default_year: int | None) -> tuple[tuple[DateMention, ...], str]:
    """Dates named in `text`, and the text with each date and clock time replaced by a placeholder
    (so "May 1, 2024" is never read as the numbers 1 and 2024)."""
    found: list[DateMention] = []
    text = _TIME_RE.sub(" ", text)
    for regex, kind in _DATE_PATTERNS:

        def sub(m: re.Match[str], kind: str = kind) -> str:
            g = m.groups()
            try:
                if kind == "ymd":
                    mention = DateMention(int(g[0]), int(g[1]), int(g[2]))
                elif kind == "mdy":
                    mention = DateMention(int(g[2]), _month(g[0]), int(g[1]))
                elif kind == "dmy":
                    mention = DateMention(int(g[2]), _month(g[1]), int(g[0]))
                elif kind == "my":
                    mention = DateMention(int(g[1]), _month(g[0]), None)
                elif kind == "ym":
                    mention = DateMention(int(g[0]), _month(g[1]), None)
                elif kind == "md":
                    mention = DateMention(default_year, _month(g[0]), int(g[1]))
                elif kind == "dm":
                    mention = DateMention(default_year, _month(g[1]), int(g[0]))
                elif _PRE.search(m.string[max(0, m.start() - 24) : m.start()]):
                    return m.group(0)  # "above 2000" is a threshold, not a year
                else:
                    mention = DateMention(int(g[0]), None, None)
            except (KeyError, ValueError):
                return m.group(0)
            if (mention.month is not None and not 1 <= mention.month <= 12) or (
                mention.day is not None and not 1 <= mention.day <= 31
            ):
                return m.group(0)
            found.append(mention)
            return " DATEMARK "

        text = regex.sub(sub, text)
    for m in _BARE_MONTH_RE.finditer(text):  # "by March?": capitalised full month names only ("may" is a verb)
        found.append(DateMention(default_year, _month(m.group(1)), None))
    text = _BARE_MONTH_RE.sub(" DATEMARK ", text)
    return tuple(dict.fromkeys(found)), text


# -- quantities and claims -----------------------------------------------------------------------------
_UNIT = r"bps|bp|basis[\s-]points?|percentage[\s-]points?|%|percent|pct|\u00b0\s*[fc]?|degrees?(?:\s+(?:fahrenheit|celsius|f|c)\b)?|dollars?|usd|cents?"
_QUANTITY = re.compile(
    r"(?:(?P<cur>\$|usd\s+)\s*)?(?<![\w.])(?<![A-Za-z]-)(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?!(?:st|nd|rd|th)\b)"
    r"(?:\s*(?P<suf>k|mm|m|bn|b|t|thousand|million|billion|trillion)(?![A-Za-z]))?"
    r"\s*(?P<plus1>\+)?"
    rf"(?:\s*(?P<unit>{_UNIT})(?![A-Za-z]))?"
    r"(?P<plus2>\s*\+)?",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(rf"^\s*(?P<unit>{_UNIT})(?![A-Za-z])", re.IGNORECASE)
_SUFFIX = {
    "k": 10**3,
    "thousand": 10**3,
    "m": 10**6,
    "mm": 10**6,
    "million": 10**6,
    "b": 10**9,
    "bn": 10**9,
    "billion": 10**9,
    "t": 10**12,
    "trillion": 10**12,
}
_LOWER_STRICT = (
    r"more than|greater than|higher than|larger than|over|above|exceeds?|exceeding|exceeded|surpass(?:es)?|>"
)
_LOWER_CLOSED = (
    r"at least|at or above|at or over|at or higher than|no less than|not less than|minimum of|reach(?:es)?|hits?|>="
)
_UPPER_STRICT = r"less than|fewer than|lower than|smaller than|below|under|<"
_UPPER_CLOSED = r"at most|at or below|at or under|at or lower than|no more than|not more than|up to|maximum of|<="
_PRE = re.compile(
    rf"(?<![A-Za-z])(?:(?P<lc>{_LOWER_CLOSED})|(?P<uc>{_UPPER_CLOSED})|(?P<ls>{_LOWER_STRICT})|(?P<us>{_UPPER_STRICT})|(?P<eq>exactly|=))\s*$",
    re.IGNORECASE,
)
_POST = re.compile(
    r"^\s*(?:(?P<lc>or more|or higher|or above|or greater|or over|and (?:above|over|up|higher))|(?P<uc>or less|or lower|or below|or fewer|or under|and (?:below|under|lower)))\b",
    re.IGNORECASE,
)
_BY_BEFORE = re.compile(
    rf"\bby\s+(?:(?:{_LOWER_CLOSED}|{_UPPER_CLOSED}|{_LOWER_STRICT}|{_UPPER_STRICT}|exactly)\s*)?$", re.IGNORECASE
)
_RANGE_JOIN = re.compile(r"^\s*(?:-|to|and)\s*$", re.IGNORECASE)
_BETWEEN_BEFORE = re.compile(r"\b(?:between|from)\s*$", re.IGNORECASE)

_HOLD = re.compile(
    r"\b(?:no change|unchanged|no (?:rate )?(?:cut|hike|move)\s*(?:/|or|and|nor)\s*(?:cut|hike|move)|no move|hold(?:s|ing)?|pause(?:s|d)?|steady|maintains?)\b",
    re.IGNORECASE,
)
_NO_CHANGE = re.compile(r"\b(?:no change|unchanged)\b", re.IGNORECASE)  # outside rate decisions
_ANY_CHANGE = re.compile(r"\bany (?:rate )?change\b|\b(?:cut|hike) or (?:cut|hike)\b", re.IGNORECASE)
_RATE_CUT = re.compile(
    r"\b(?:cut|cuts|cutting|decrease[sd]?|decreasing|lower(?:s|ed|ing)?(?!\s+than)|reduce[sd]?|reducing|reduction|ease[sd]?|easing)\b",
    re.IGNORECASE,
)
_RATE_HIKE = re.compile(r"\b(?:hike[sd]?|hiking|raise[sd]?|raising|increase[sd]?|increasing)\b", re.IGNORECASE)
_MOVE_UP = re.compile(
    r"\b(?:rise[sn]?|rising|rose|gain(?:s|ed)?|up|climb(?:s|ed)?|increase[sd]?|increasing)\b", re.IGNORECASE
)
_MOVE_DOWN = re.compile(
    r"\b(?:fall(?:s|en)?|fell|falling|drop(?:s|ped)?|decline[sd]?|down|decrease[sd]?|decreasing|lose|loses|lost)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(?:not|never|fail(?:s|ed)? to|won't|doesn't|don't|didn't|isn't|no)\b|n't\b", re.IGNORECASE)
_RATE_CONTEXT = re.compile(
    r"\b(?:FED|ECB|BOE|BOJ|central bank|interest rates?|policy rate|funds rate|basis points?|bps)\b", re.IGNORECASE
)
_DEADLINE = re.compile(r"\b(?:by|before|prior to|no later than)\s+(?:the\s+)?(?:end of\s+)?DATEMARK", re.IGNORECASE)
_ON_DATE = re.compile(r"\b(?:on|at|as of)\s+(?:the\s+)?(?:close of\s+)?DATEMARK", re.IGNORECASE)

# Opposite words around one subject ("win"/"lose", "rise"/"fall"): pairs (class, side A, side B).
# A title naming one side and its counterpart naming only the other never settle the same way.
_POLARITY: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (name, re.compile(rf"\b(?:{a})\b", re.IGNORECASE), re.compile(rf"\b(?:{b})\b", re.IGNORECASE))
    for name, a, b in (
        ("up/down", r"rise[sn]?|rising|rose|increase[sd]?|increasing|gain(?:s|ed)?|climb(?:s|ed)?|hike[sd]?|hiking|raise[sd]?|raising|up|surge[sd]?|jump(?:s|ed)?",
         r"fall(?:s|en)?|fell|falling|drop(?:s|ped)?|decline[sd]?|declining|decrease[sd]?|decreasing|down|lower(?:s|ed|ing)?|cut(?:s|ting)?|reduce[sd]?|reducing|dip(?:s|ped)?|plunge[sd]?|crash(?:es|ed)?|tumble[sd]?"),
        ("above/below", r"above|exceed(?:s|ed|ing)?", r"below"),
        ("win/lose", r"win|wins|won|winning|beat(?:s|en)?|defeat(?:s|ed)?", r"lose|loses|lost|losing"),
        ("pass/fail", r"pass(?:es|ed)?|approve[sd]?|confirm(?:s|ed)?|accept(?:s|ed)?|ratif(?:y|ies|ied)",
         r"fail(?:s|ed)?|reject(?:s|ed)?|den(?:y|ies|ied)|veto(?:es|ed)?"),
        ("before/after", r"before|prior to|earlier than", r"after|later than"),
        ("guilty/acquitted", r"guilty|convict(?:s|ed)?", r"acquit(?:s|ted)?|innocent"),
    )
)  # fmt: skip
# Comparison phrases hold direction words that are not the event's direction ("up to", "lower than").
_COMPARISON_PHRASE = re.compile(
    r"\b(?:no |not )?(?:more|less|fewer|lower|higher|greater|earlier|later) than\b|\bup to\b", re.IGNORECASE
)
# Identifiers whose digits or ordinals token similarity cannot see: "Q1"/"Q2", "GPT-5", "2nd round",
# "first half", "Jr.". Differing ones mean different markets.
_IDENTIFIER = re.compile(r"(?<![\w$.])([A-Za-z]{1,8})-?(\d{1,4}[A-Za-z]?)(?![\w.%])")
_ORDINAL = re.compile(r"\b(\d{1,3})(?:st|nd|rd|th)\b", re.IGNORECASE)
_ORDINAL_WORDS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}
_ORDINAL_WORD = re.compile(rf"\b({'|'.join(_ORDINAL_WORDS)})\b", re.IGNORECASE)
_NAME_SUFFIX = re.compile(r"\b(jr|sr|ii|iii|iv)\b", re.IGNORECASE)
_YES_NO = ("yes", "no")
# Words that make the order of two named parties matter ("A beat B", "more votes than").
_VERSUS = re.compile(
    r"\b(?:vs\.?|versus|against|beat(?:s|en)?|defeat(?:s|ed)?|ahead of|than|outperform(?:s|ed)?|before)\b",
    re.IGNORECASE,
)


_LOOKBEHIND_CHARS = 40  # comparison words sit right next to their number; bounded so parsing stays linear


@dataclass(frozen=True, slots=True)
class _Quantity:
    start: int
    end: int
    value: Decimal
    unit: str
    values: ValueSet  # with the comparison applied
    compared: bool  # a comparison word or sign was attached
    by: bool  # "by <quantity>": an amount of change


def _unit(raw: str | None, currency: str | None) -> tuple[str, Decimal]:
    if currency:
        return "usd", Decimal(1)
    if not raw:
        return "", Decimal(1)
    raw = raw.lower().replace(" ", "")
    if raw in {"bps", "bp"} or raw.startswith("basis"):
        return "bps", Decimal(1)
    if raw in {"%", "percent", "pct"} or raw.startswith("percentage"):
        return "pct", Decimal(1)
    if raw.startswith("cent"):
        return "usd", Decimal("0.01")
    if raw.startswith(("dollar", "usd")):
        return "usd", Decimal(1)
    scale = raw.removeprefix("\u00b0").removeprefix("degrees").removeprefix("degree")
    if scale in {"f", "fahrenheit"}:
        return "degf", Decimal(1)
    if scale in {"c", "celsius"}:
        return "degc", Decimal(1)
    return "deg", Decimal(1)  # a degree without its scale: compatible with either, at a discount


def _quantities(text: str) -> list[_Quantity]:
    out: list[_Quantity] = []
    for m in _QUANTITY.finditer(text):
        try:
            value = Decimal(m.group("num").replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the regex only admits decimal digits
            continue
        if m.group("suf"):
            value *= _SUFFIX[m.group("suf").lower()]
        before = text[max(0, m.start() - _LOOKBEHIND_CHARS) : m.start()]
        after = text[m.end() : m.end() + _LOOKBEHIND_CHARS]
        pre = _PRE.search(before)
        post = _POST.search(after)
        plus = bool(m.group("plus1") or m.group("plus2"))
        end = m.end() + (post.end() if post else 0)
        raw_unit = m.group("unit")
        if not raw_unit and post:  # "50 or more basis points"
            late = _UNIT_AFTER.match(text[end:])
            if late:
                raw_unit, end = late.group("unit"), end + late.end()
        unit, scale = _unit(raw_unit, m.group("cur"))
        value *= scale
        if plus or (post and post.group("lc")) or (pre and pre.group("lc")):
            values = (Interval(value, None, True, False),)
        elif (post and post.group("uc")) or (pre and pre.group("uc")):
            values = (Interval(None, value, False, True),)
        elif pre and pre.group("ls"):
            values = (Interval(value, None, False, False),)
        elif pre and pre.group("us"):
            values = (Interval(None, value, False, False),)
        else:
            values = (_point(value),)
        compared = bool(plus or post or (pre and not pre.group("eq")))
        out.append(_Quantity(m.start(), end, value, unit, values, compared, bool(_BY_BEFORE.search(before))))
    # "between 25 and 50", "from $90k to $100k", "25-50 bps": one closed range
    merged: list[_Quantity] = []
    for q in out:
        if merged and not merged[-1].compared and not q.compared and _RANGE_JOIN.match(text[merged[-1].end : q.start]):
            first = merged[-1]
            joiner = text[first.end : q.start].strip().lower()
            if joiner != "and" or _BETWEEN_BEFORE.search(text[max(0, first.start - _LOOKBEHIND_CHARS) : first.start]):
                unit = first.unit or q.unit
                merged[-1] = _Quantity(
                    first.start, q.end, first.value, unit, (Interval(first.value, q.value, True, True),), True, first.by
                )
                continue
        merged.append(q)
    return merged


@dataclass(frozen=True, slots=True)
class ClaimParse:
    claim: Claim | None
    problem: str  # non-empty: the text names a claim that cannot be read unambiguously
    negated: bool


def parse_claim(text: str, *, rate_context: bool, rate_step_bps: int = 25) -> ClaimParse:
    """The claim a piece of market text makes (dates and clock times must be masked already).

    Rate decisions (in a rate context): hold phrases are the zero change; one direction word with an
    optional amount is a signed change (no amount: any move that way); the amount's comparison
    ("by more than 25", "50+") applies to its size. Elsewhere a number with a comparison is a
    threshold on a level, and "up/down by X" is a change. Negation complements the set.
    """
    hold_re = _HOLD if rate_context else _NO_CHANGE
    hold = bool(hold_re.search(text))
    rest = hold_re.sub(" ", text)
    any_change = bool(_ANY_CHANGE.search(rest))
    rest = _ANY_CHANGE.sub(" ", rest)
    quantities = _quantities(rest)
    # comparison phrases are not negations ("no more than") nor directions ("lower than")
    bare = re.sub(r"\b(?:no|not) (?:more|less|fewer) than\b|\b(?:lower|higher) than\b", " ", rest, flags=re.IGNORECASE)
    negations = len(_NEGATION.findall(bare))
    negated = negations > 0
    if negations > 1:  # "not fail to", "never not": which way the title points is unclear
        return ClaimParse(None, f"{negations} negations", negated)
    step = Decimal(rate_step_bps)

    def finish(values: ValueSet, axis: str, unit: str, grid: bool) -> ClaimParse:
        if negated:
            values = _complement(values)
        return ClaimParse(Claim(axis, unit, values, step if grid and unit in {"bps", ""} else None), "", negated)

    if rate_context:
        cut, hike = bool(_RATE_CUT.search(bare)), bool(_RATE_HIKE.search(bare))
        if hold or any_change:
            amounts = [q for q in quantities if q.value != 0]
            if amounts or (hold and any_change):
                return ClaimParse(None, "a hold/any-change phrase together with an amount", negated)
            zero = (_point(Decimal(0)),)
            return finish(zero if hold else _complement(zero), "change", "bps", True)
        if cut or hike:
            if cut and hike:
                if quantities:
                    return ClaimParse(None, "both cut and hike words with an amount", negated)
                return finish(_complement((_point(Decimal(0)),)), "change", "bps", True)
            sign = Decimal(-1) if cut else Decimal(1)
            if len(quantities) > 1:
                return ClaimParse(None, f"{len(quantities)} amounts for one rate move", negated)
            if not quantities:
                return finish(
                    (Interval(Decimal(0), None, False, False),)
                    if hike
                    else (Interval(None, Decimal(0), False, False),),
                    "change",
                    "bps",
                    True,
                )
            q = quantities[0]
            unit = q.unit
            magnitude = _intersect_nonnegative(q.values)
            if unit == "pct":  # 0.25% of a policy rate is 25 bps
                magnitude, unit = _scale(magnitude, Decimal(100)), "bps"
            if unit not in {"bps", ""}:
                return ClaimParse(None, f"a rate move in {unit}", negated)
            return finish(_scale(magnitude, sign), "change", unit, True)
        bps_amounts = [q for q in quantities if q.unit == "bps"]
        if bps_amounts:  # a rate decision's amount with no direction: only zero has no sign
            if len(quantities) == 1 and bps_amounts[0].values == (_point(Decimal(0)),):
                return finish((_point(Decimal(0)),), "change", "bps", True)
            return ClaimParse(None, "an amount in bps without a cut/hike direction", negated)
    elif hold and not quantities:
        return finish((_point(Decimal(0)),), "change", "", False)
    if not quantities:
        return ClaimParse(None, "", negated)
    if len(quantities) > 1:
        if len({(q.values, q.unit) for q in quantities}) == 1:
            quantities = quantities[:1]
        else:
            return ClaimParse(None, f"{len(quantities)} different numbers", negated)
    q = quantities[0]
    up, down = bool(_MOVE_UP.search(bare)), bool(_MOVE_DOWN.search(bare))
    if q.by and (up or down):
        if up and down:
            return ClaimParse(None, "both up and down words with an amount", negated)
        sign = Decimal(1) if up else Decimal(-1)
        return finish(_scale(_intersect_nonnegative(q.values), sign), "change", q.unit, False)
    return finish(q.values, "level", q.unit, False)


def _strike_claim(market: MarketInfo) -> Claim | None:
    """Kalshi strike metadata as a claim (unit unknown: the strike carries none)."""
    s = market.strike
    if s is None:
        return None
    kind = s.strike_type.lower()
    if kind == "greater" and s.floor is not None:
        return Claim("level", "", (Interval(s.floor, None, False, False),))
    if kind == "greater_or_equal" and s.floor is not None:
        return Claim("level", "", (Interval(s.floor, None, True, False),))
    if kind == "less" and s.cap is not None:
        return Claim("level", "", (Interval(None, s.cap, False, False),))
    if kind == "less_or_equal" and s.cap is not None:
        return Claim("level", "", (Interval(None, s.cap, False, True),))
    if kind == "between" and s.floor is not None and s.cap is not None:
        return Claim("level", "", (Interval(s.floor, s.cap, True, True),))
    return None


_RESOLVE_YES = re.compile(r"resolves? to \"?yes\"?", re.IGNORECASE)


def _rules_clause(rules: str) -> str:
    """The sentence of a rules text that says when the market resolves Yes, without its
    "resolves to Yes" words ("" when there is none)."""
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", rules):
        if (
            _RESOLVE_YES.search(sentence)
            and re.search(r"\bif\b", sentence, re.IGNORECASE)
            and not re.search(r"\botherwise\b", sentence, re.IGNORECASE)
        ):
            return _RESOLVE_YES.sub(" ", sentence)
    return ""


# -- market features -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MarketFeatures:
    """What the matcher reads from one market (pure function of the `MarketInfo`).

    key: the id that goes into the output (Kalshi ticker; Polymarket Gamma id)
    tokens: normalised title + label tokens (a multiset, sorted), claim words and dates removed
    claim / claim_problem: the market's claim, or why none can be read ("" when it names none)
    negated: the title is negated (used for orientation when neither side has a claim)
    """

    key: str
    venue: Venue
    title: str
    label: str
    tokens: tuple[str, ...]
    entities: frozenset[str]
    dates: tuple[DateMention, ...]
    claim: Claim | None
    claim_problem: str
    negated: bool
    rules_tokens: tuple[str, ...]
    close_time_ms: int | None
    timing: str = ""  # "by": a deadline ("by March 15"); "on": at a date ("on March 15"); "" unknown
    notes: tuple[str, ...] = ()
    polarity: frozenset[str] = frozenset()  # "<class>:a" / "<class>:b" sides of _POLARITY named
    identifiers: frozenset[str] = frozenset()  # "q1", "gpt5", "#2" (ordinals), "jr"
    entity_order: tuple[str, ...] = ()  # entities in title order (who beats whom)


def _polarity(text: str) -> frozenset[str]:
    """The sides of each opposite-word class the text names; a class named on both sides is
    neutral ("cut or hike", "fail to pass") and left out."""
    bare = _COMPARISON_PHRASE.sub(" ", text)
    out = set()
    for name, side_a, side_b in _POLARITY:
        a, b = bool(side_a.search(bare)), bool(side_b.search(bare))
        if a != b:
            out.add(f"{name}:{'a' if a else 'b'}")
    return frozenset(out)


def _identifiers(text: str) -> frozenset[str]:
    out = {f"{m.group(1)}{m.group(2)}".lower() for m in _IDENTIFIER.finditer(text)}
    out |= {f"#{int(m.group(1))}" for m in _ORDINAL.finditer(text)}
    out |= {f"#{_ORDINAL_WORDS[m.group(1).lower()]}" for m in _ORDINAL_WORD.finditer(text)}
    out |= {m.group(1).lower() for m in _NAME_SUFFIX.finditer(text)}
    return frozenset(out)


def _entity_order(text: str, entities: frozenset[str]) -> tuple[str, ...]:
    low = text.lower()
    found = []
    for entity in entities:
        m = re.search(rf"(?<![a-z]){re.escape(entity)}(?![a-z])", low)
        if m:
            found.append((m.start(), entity))
    return tuple(e for _, e in sorted(found))


def _entities(original: str, synonyms: set[str]) -> set[str]:
    """Canonical synonyms plus capitalised words that are not vocabulary (months, question words,
    claim words): proper nouns and organisations, one token per word so "Donald Trump" meets "Trump"."""
    out = set(synonyms)
    for m in _WORD.finditer(original):
        word = m.group(0).strip("'-")
        if not word or not word[0].isupper():
            continue
        low = word.lower()
        low = low.removesuffix("'s")
        if low in _NON_ENTITY or low == "datemark":
            continue
        out.add(low)
    return out


def _tokens(text: str) -> list[str]:
    words = []
    for m in _WORD.finditer(text.lower()):
        word = m.group(0).strip("'-&")
        word = word.removesuffix("'s")
        if not word or word in _STOPWORDS or word in _CLAIM_WORDS or word == "datemark" or len(word) < 2:
            continue
        words.append(_stem(word))
    return words


_MAX_TITLE_CHARS = 1_000  # venue titles are a line; anything longer is cut, never parsed without bound
_MAX_RULES_CHARS = 20_000


def _year(ms: int | None) -> int | None:
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).year
    except (OverflowError, OSError, ValueError):
        return None


def market_features(market: MarketInfo, *, rate_step_bps: int = 25) -> MarketFeatures:
    """Tokens, entities, dates and the claim of one market."""
    key = market.market_id if market.venue is Venue.KALSHI else market.venue_market_id
    label = market.subtitle.strip()[:_MAX_TITLE_CHARS]
    title = market.title.strip()[:_MAX_TITLE_CHARS]
    default_year = _year(market.close_time_ms)
    folded_title, folded_label, folded_rules = _fold(title), _fold(label), _fold(market.rules_text[:_MAX_RULES_CHARS])
    syn_title, found_title = _apply_synonyms(folded_title)
    syn_label, found_label = _apply_synonyms(folded_label)
    syn_rules, _found_rules = _apply_synonyms(folded_rules)
    dates_title, masked_title = extract_dates(syn_title, default_year)
    dates_label, masked_label = extract_dates(syn_label, default_year)
    rate_context = bool(_RATE_CONTEXT.search(f"{syn_title} {syn_label} {syn_rules}"))
    notes: list[str] = []

    parses = [parse_claim(masked_title, rate_context=rate_context, rate_step_bps=rate_step_bps)]
    if label and label.lower() != title.lower():
        parses.append(parse_claim(masked_label, rate_context=rate_context, rate_step_bps=rate_step_bps))
    claims = [p.claim for p in parses if p.claim is not None]
    problems = [p.problem for p in parses if p.problem]
    strike = _strike_claim(market) if market.venue is Venue.KALSHI else None
    if strike is not None:
        claims.append(strike)
    problem = problems[0] if problems else ""
    claim: Claim | None = None
    if not problem and claims:
        claim = max(claims, key=lambda c: bool(c.unit))  # the one that states its unit
        for other in claims:
            if compare_claims(claim, other).relation != "same":
                problem = f"title, label or strike disagree: {claim.describe()} vs {other.describe()}"
                claim = None
                break
    clause = _rules_clause(syn_rules)
    if clause and not problem:
        _, masked_clause = extract_dates(clause, default_year)
        ruled = parse_claim(masked_clause, rate_context=rate_context, rate_step_bps=rate_step_bps).claim
        if ruled is not None and claim is None and not claims:
            claim = ruled  # the title names no amount: the rules do
            notes.append(f"claim from the rules: {ruled.describe()}")
        elif (
            ruled is not None
            and claim is not None
            and ruled.axis == claim.axis
            and ruled.unit
            and ruled.unit == claim.unit
        ) and compare_claims(claim, ruled).relation != "same":
            problem = f"title says {claim.describe()}, rules say {ruled.describe()}"
            claim = None
    placeholder = next((text for text in (label, title) if text and PLACEHOLDER_OUTCOME_LABEL.fullmatch(text)), "")
    if placeholder:  # grouped or not: a Kalshi market from GET /markets carries no group
        problem = f"a placeholder outcome ({placeholder!r}, an 'Other'): its meaning depends on the rest of the group"
        claim = None
    if market.venue is Venue.POLYMARKET and tuple(o.strip().lower() for o in market.outcome_labels) != _YES_NO:
        shown = "/".join(repr(o) for o in market.outcome_labels)
        problem = problem or f"outcomes are {shown}, not Yes/No: which one is YES cannot be read from the title"
        claim = None
    if market.group is not None and market.group.augmented:
        notes.append("augmented negRisk event (not exhaustive)")
    entities = frozenset(_entities(f"{syn_title} . {syn_label}", found_title | found_label))
    return MarketFeatures(
        key=key,
        venue=market.venue,
        title=title,
        label=label,
        tokens=tuple(sorted(_tokens(f"{masked_title} {masked_label}"))),
        entities=entities,
        dates=tuple(dict.fromkeys(dates_title + dates_label)),
        claim=claim,
        claim_problem=problem,
        negated=parses[0].negated,
        rules_tokens=tuple(sorted(_tokens(extract_dates(syn_rules, default_year)[1]))),
        close_time_ms=market.close_time_ms,
        timing="by" if _DEADLINE.search(masked_title) else "on" if _ON_DATE.search(masked_title) else "",
        notes=tuple(notes),
        polarity=_polarity(f"{masked_title} . {masked_label}"),
        identifiers=_identifiers(f"{masked_title} . {masked_label}"),
        entity_order=_entity_order(syn_title, entities),
    )


# -- similarity ----------------------------------------------------------------------------------------
class _Idf:
    """Smoothed inverse document frequencies over a corpus of token multisets."""

    def __init__(self, documents: Iterable[Sequence[str]]) -> None:
        df: Counter[str] = Counter()
        n = 0
        for doc in documents:
            n += 1
            df.update(set(doc))
        self._n = n
        self._df = df

    def weight(self, token: str) -> float:
        return math.log((self._n + 1) / (self._df.get(token, 0) + 1)) + 1.0

    def df(self, token: str) -> int:
        return self._df.get(token, 0)

    def cosine(self, a: Sequence[str], b: Sequence[str]) -> float:
        if not a or not b:
            return 0.0
        va = {t: c * self.weight(t) for t, c in Counter(a).items()}
        vb = {t: c * self.weight(t) for t, c in Counter(b).items()}
        dot = sum(w * vb[t] for t, w in va.items() if t in vb)
        norm = math.sqrt(sum(w * w for w in va.values())) * math.sqrt(sum(w * w for w in vb.values()))
        return dot / norm if norm else 0.0


# -- scoring -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PairAssessment:
    """One scored pair. `blocked`: a conflict or an unreadable claim; never suggested."""

    kalshi: str
    polymarket: str
    orientation: Orientation
    score: float
    blocked: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Corpus:
    """Document frequencies of title and rules tokens over every market of both files."""

    titles: _Idf
    rules: _Idf

    @classmethod
    def from_features(cls, features: Iterable[MarketFeatures]) -> Corpus:
        features = list(features)
        return cls(_Idf(f.tokens for f in features), _Idf(f.rules_tokens for f in features))


def _gap_factor(gap_days: float) -> float:
    """Close times a few days apart are normal (Polymarket lists the meeting day at 00:00Z, Kalshi
    the decision time); weeks apart usually mean different events."""
    if gap_days <= 2.0:
        return 1.0
    return max(0.3, 1.0 - 0.12 * math.log2(gap_days / 2.0))


def score_pair(k: MarketFeatures, p: MarketFeatures, corpus: Corpus, config: SuggestConfig) -> PairAssessment:
    """Score one Kalshi/Polymarket pair; every factor leaves a reason."""
    reasons: list[str] = []
    blocked = False
    conflict = False

    title_sim = corpus.titles.cosine(k.tokens, p.tokens)
    reasons.append(f"title cosine {title_sim:.2f}")

    shared_entities = k.entities & p.entities
    if k.entities and p.entities:
        entity_sim = len(shared_entities) / min(len(k.entities), len(p.entities))
        if shared_entities:
            reasons.append(f"entities shared: {', '.join(sorted(shared_entities))}")
        else:
            conflict = True
            reasons.append(
                f"conflict: no shared entity ({', '.join(sorted(k.entities))} vs {', '.join(sorted(p.entities))})"
            )
    else:
        entity_sim = 0.5
        reasons.append("entities: none named on one side")
    shared_subject = (set(k.tokens) & set(p.tokens)) - _GENERIC_STEMS
    if not shared_entities and not shared_subject:
        conflict = True
        reasons.append("conflict: no shared subject (only generic words in common)")

    if k.rules_tokens and p.rules_tokens:
        rules_sim = corpus.rules.cosine(k.rules_tokens, p.rules_tokens)
        reasons.append(f"rules cosine {rules_sim:.2f}")
    else:
        rules_sim = 0.5
        reasons.append("rules text missing on one side")

    date_score = 0.5
    dates_agree = False
    if k.dates and p.dates:
        pairs = [(a, b) for a in k.dates for b in p.dates if a.compatible(b)]
        if pairs:
            dates_agree = True
            a, b = pairs[0]
            date_score = 1.0 if (a.month is not None and b.month is not None) else 0.75
            reasons.append(f"dates agree: {a.describe()} / {b.describe()}")
        else:
            conflict = True
            reasons.append(
                f"conflict: dates differ ({', '.join(d.describe() for d in k.dates)} vs {', '.join(d.describe() for d in p.dates)})"
            )
    gap_factor = 1.0
    if k.close_time_ms is not None and p.close_time_ms is not None:
        gap_days = abs(k.close_time_ms - p.close_time_ms) / DAY_MS
        gap_factor = _gap_factor(gap_days)
        if dates_agree:
            gap_factor = max(gap_factor, 0.8)  # the titles name the same date: the listing's close matters less
        reasons.append(
            f"close times {gap_days * 24:.1f} h apart" if gap_days < 2 else f"close times {gap_days:.1f} days apart"
        )
        if not k.dates and not p.dates:
            date_score = 1.0 if gap_days <= 2 else 0.5
    else:
        reasons.append("close time missing on one side")

    orientation = Orientation.SAME
    claim_factor = 1.0
    problems = [
        f"{side} claim unreadable ({f.claim_problem})"
        for side, f in (("Kalshi", k), ("Polymarket", p))
        if f.claim_problem
    ]
    if problems:
        blocked = True
        claim_factor = 0.6
        reasons.extend(problems)
    elif k.claim is not None and p.claim is not None:
        match = compare_claims(k.claim, p.claim)
        if match.relation == "conflict":
            conflict = True
            reasons.append(f"conflict: {match.detail}")
        else:
            orientation = Orientation(match.relation)
            claim_factor = match.factor
            reasons.append(f"claim {match.relation}: {match.detail}")
            if not match.exact:
                blocked = True
                reasons.append(
                    "ambiguous: the claims differ at the threshold itself, where one settles YES and the other NO"
                )
    elif k.claim is not None or p.claim is not None:
        blocked = True
        claim_factor = 0.6
        side, named = ("Kalshi", k.claim) if k.claim is not None else ("Polymarket", p.claim)
        reasons.append(f"ambiguous: only {side} names a claim ({named.describe() if named else ''})")
    else:
        claim_factor = 0.95
        if k.negated != p.negated:
            orientation = Orientation.INVERTED
            claim_factor = 0.85
            reasons.append("no claim on either side; one title is negated: inverted")
        else:
            reasons.append("no claim on either side")
    if k.timing and p.timing and k.timing != p.timing:
        claim_factor *= 0.95
        blocked = True  # a value at a date is not the value touching the level before it
        reasons.append(
            f"ambiguous: timing differs: Kalshi '{k.timing}' a date, Polymarket '{p.timing}' a date (check whether a touch before the date counts)"
        )
    # Opposite direction words agree with complementary claims ("rise above k" vs "fall to k or
    # below"), or with equal claims when exactly one side is negated ("not below k" vs "k or above").
    both_claims = k.claim is not None and p.claim is not None and not conflict
    words_agree = both_claims and (orientation is Orientation.INVERTED) != (k.negated != p.negated)
    for name, _, _ in _POLARITY:
        sides = (
            {side for side in ("a", "b") if f"{name}:{side}" in k.polarity},
            {side for side in ("a", "b") if f"{name}:{side}" in p.polarity},
        )
        if sides[0] and sides[1] and sides[0] != sides[1]:
            if words_agree and name in ("up/down", "above/below"):
                continue
            conflict = True
            reasons.append(
                f"conflict: opposite wording ({name}): Kalshi '{name.split('/')[sides[0] == {'b'}]}', Polymarket '{name.split('/')[sides[1] == {'b'}]}'"
            )
    if k.identifiers != p.identifiers:
        if k.identifiers and p.identifiers:
            conflict = True
            reasons.append(
                f"conflict: different identifiers ({', '.join(sorted(k.identifiers))} vs {', '.join(sorted(p.identifiers))})"
            )
        else:
            blocked = True
            side, identifiers = ("Kalshi", k.identifiers) if k.identifiers else ("Polymarket", p.identifiers)
            reasons.append(f"ambiguous: only {side} names {', '.join(sorted(identifiers))}")
    shared_order = (
        [e for e in k.entity_order if e in shared_entities],
        [e for e in p.entity_order if e in shared_entities],
    )
    if (
        len(shared_order[0]) >= 2
        and shared_order[0] != shared_order[1]
        and (_VERSUS.search(k.title) or _VERSUS.search(p.title))
    ):
        conflict = True
        reasons.append(
            f"conflict: who is compared with whom differs ({' / '.join(shared_order[0])} vs {' / '.join(shared_order[1])})"
        )
    for f in (k, p):
        reasons.extend(f.notes)

    base = (
        config.weight_title * title_sim
        + config.weight_entities * entity_sim
        + config.weight_rules * rules_sim
        + config.weight_dates * date_score
    )
    score = base * claim_factor * gap_factor
    if conflict:
        blocked = True
        score = min(score * 0.2, 0.2)
    return PairAssessment(k.key, p.key, orientation, round(min(max(score, 0.0), 1.0), 4), blocked, tuple(reasons))


# -- candidate generation ------------------------------------------------------------------------------
def _blocking_keys(f: MarketFeatures) -> set[str]:
    return {f"e:{e}" for e in f.entities} | {f"t:{t}" for t in f.tokens if t not in _GENERIC_STEMS}


def candidate_pairs(
    kalshi: Sequence[MarketFeatures], polymarket: Sequence[MarketFeatures], config: SuggestConfig
) -> list[tuple[int, int]]:
    """Index pairs worth scoring: sharing an entity or a non-generic title token, with close times
    within `max_close_gap_days`. Keys listed by too many markets (see `SuggestConfig`) are skipped
    unless a market has no other, so the cost grows with the candidates, not with K x P."""
    index: dict[str, list[int]] = defaultdict(list)
    for j, f in enumerate(polymarket):
        for key in _blocking_keys(f):
            index[key].append(j)
    by_close = sorted((f.close_time_ms, j) for j, f in enumerate(polymarket) if f.close_time_ms is not None)
    close_keys = [c for c, _ in by_close]
    no_close = {j for j, f in enumerate(polymarket) if f.close_time_ms is None}
    window_ms = config.max_close_gap_days * DAY_MS
    cap = max(config.block_key_min_cap, int(config.block_key_max_share * len(polymarket)))
    out: list[tuple[int, int]] = []
    for i, f in enumerate(kalshi):
        # sorted by size, then key: equal-sized fallbacks must not depend on set iteration order
        lists = [
            index[key]
            for key in sorted(_blocking_keys(f), key=lambda key: (len(index.get(key, ())), key))
            if key in index
        ]
        usable = [lst for lst in lists if len(lst) <= cap] or lists[:1]
        if not usable:
            continue
        candidates = set().union(*usable)
        if f.close_time_ms is not None:
            lo = bisect_left(close_keys, f.close_time_ms - window_ms)
            hi = bisect_right(close_keys, f.close_time_ms + window_ms)
            in_window = {j for _, j in by_close[lo:hi]} | no_close
            candidates &= in_window
        out.extend((i, j) for j in sorted(candidates))
    return out


# -- verifier seam -------------------------------------------------------------------------------------
class Verifier(Protocol):
    """A second opinion on a scored pair (for example a model reading both rules texts). It may lower
    or raise the score or block the pair; `suggest_links` keeps any deterministic block."""

    def review(self, kalshi: MarketInfo, polymarket: MarketInfo, assessment: PairAssessment) -> PairAssessment: ...


class NoVerifier:
    """The default: deterministic features only."""

    def review(self, kalshi: MarketInfo, polymarket: MarketInfo, assessment: PairAssessment) -> PairAssessment:
        return assessment


# -- suggestion ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LinkSuggestion:
    kalshi: str  # ticker
    polymarket: str  # Gamma market id
    orientation: Orientation
    score: float
    suggested: bool
    reasons: tuple[str, ...]
    kalshi_title: str = ""
    polymarket_title: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "kalshi": self.kalshi,
            "polymarket": self.polymarket,
            "orientation": self.orientation.value,
            "score": self.score,
            "suggested": self.suggested,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class SuggestReport:
    pairs: tuple[LinkSuggestion, ...]  # score desc, then ids
    kalshi_markets: int
    polymarket_markets: int
    candidates_scored: int
    threshold: float
    suggested: int


def _check_inputs(kalshi: Sequence[MarketInfo], polymarket: Sequence[MarketInfo]) -> None:
    if not kalshi:
        raise ConfigError("the Kalshi file holds no markets")
    if not polymarket:
        raise ConfigError("the Polymarket file holds no markets")
    seen: dict[str, MarketInfo] = {}
    for m in kalshi:
        if m.venue is not Venue.KALSHI:
            raise ConfigError(f"market {m.market_id!r} in the Kalshi list is a {m.venue.value} market")
        if m.market_id in seen:
            raise ConfigError(f"Kalshi ticker {m.market_id!r} is listed twice")
        seen[m.market_id] = m
    gamma: dict[str, MarketInfo] = {}
    for m in polymarket:
        if m.venue is not Venue.POLYMARKET:
            raise ConfigError(f"market {m.market_id!r} in the Polymarket list is a {m.venue.value} market")
        if not m.venue_market_id:
            raise ConfigError(f"Polymarket market {m.market_id!r} has no Gamma id (the output names pairs by it)")
        if m.venue_market_id in gamma:
            raise ConfigError(f"Polymarket Gamma id {m.venue_market_id!r} is listed twice")
        gamma[m.venue_market_id] = m


def _resolve_one_to_one(assessments: list[PairAssessment], threshold: float) -> dict[tuple[str, str], str]:
    """Which eligible pairs lose their market to a better (or an equally good) pair, with why.
    Pairs absent from the result and above the threshold are suggested."""
    eligible = sorted(
        (a for a in assessments if not a.blocked and a.score > threshold),
        key=lambda a: (-a.score, a.kalshi, a.polymarket),
    )
    taken: dict[str, str] = {}
    lost: dict[tuple[str, str], str] = {}
    i = 0
    while i < len(eligible):
        j = i
        while j < len(eligible) and eligible[j].score == eligible[i].score:
            j += 1
        alive = []
        for a in eligible[i:j]:
            holder = taken.get(f"k:{a.kalshi}") or taken.get(f"p:{a.polymarket}")
            if holder:
                lost[(a.kalshi, a.polymarket)] = f"not suggested: a market is already paired ({holder})"
            else:
                alive.append(a)
        for a in alive:
            rivals = [b for b in alive if b is not a and (b.kalshi == a.kalshi or b.polymarket == a.polymarket)]
            if rivals:
                lost[(a.kalshi, a.polymarket)] = (
                    f"not suggested: tie at {a.score:.4f} with {rivals[0].kalshi} / {rivals[0].polymarket} (ambiguous)"
                )
        for a in alive:  # winners and ties consume their markets: a tied market stays unpaired (fail closed)
            taken.setdefault(f"k:{a.kalshi}", f"{a.kalshi} / {a.polymarket} at {a.score:.4f}")
            taken.setdefault(f"p:{a.polymarket}", f"{a.kalshi} / {a.polymarket} at {a.score:.4f}")
        i = j
    return lost


def suggest_links(
    kalshi: Sequence[MarketInfo],
    polymarket: Sequence[MarketInfo],
    *,
    config: SuggestConfig | None = None,
    verifier: Verifier | None = None,
) -> SuggestReport:
    """Rank candidate pairs of the two venues' markets (pure; raises ConfigError on bad input)."""
    config = config or SuggestConfig()
    verifier = verifier or NoVerifier()
    _check_inputs(kalshi, polymarket)
    kf = [market_features(m, rate_step_bps=config.rate_step_bps) for m in kalshi]
    pf = [market_features(m, rate_step_bps=config.rate_step_bps) for m in polymarket]
    corpus = Corpus.from_features((*kf, *pf))
    candidates = candidate_pairs(kf, pf, config)
    assessments: list[PairAssessment] = []
    for i, j in candidates:
        scored = score_pair(kf[i], pf[j], corpus, config)
        reviewed = verifier.review(kalshi[i], polymarket[j], scored)
        if (reviewed.kalshi, reviewed.polymarket) != (scored.kalshi, scored.polymarket):
            raise ConfigError(f"verifier {type(verifier).__name__} changed the pair it was asked about")
        if reviewed != scored:
            score = float(reviewed.score)
            if not math.isfinite(score):  # a broken verifier fails closed
                reviewed = replace(
                    reviewed,
                    score=0.0,
                    blocked=True,
                    reasons=(*reviewed.reasons, "verifier returned a non-finite score"),
                )
            else:
                reviewed = replace(
                    reviewed, score=round(min(max(score, 0.0), 1.0), 4), blocked=reviewed.blocked or scored.blocked
                )
        assessments.append(reviewed)
    lost = _resolve_one_to_one(assessments, config.threshold)

    # keep every market's best few pairs (the suggested one, its rivals, and why the rest fail)
    kept: set[tuple[str, str]] = set()
    per_market: dict[str, list[PairAssessment]] = defaultdict(list)
    for a in assessments:
        per_market[f"k:{a.kalshi}"].append(a)
        per_market[f"p:{a.polymarket}"].append(a)
    for items in per_market.values():
        items.sort(key=lambda a: (-a.score, a.kalshi, a.polymarket))
        kept.update((a.kalshi, a.polymarket) for a in items[: config.pairs_per_market])
    kept.update((a.kalshi, a.polymarket) for a in assessments if not a.blocked and a.score > config.threshold)
    titles = {f.key: f.title + (f" [{f.label}]" if f.label and f.label != f.title else "") for f in (*kf, *pf)}
    pairs = []
    for a in sorted(assessments, key=lambda a: (-a.score, a.kalshi, a.polymarket)):
        pair = (a.kalshi, a.polymarket)
        if pair not in kept:
            continue
        suggested = not a.blocked and a.score > config.threshold and pair not in lost
        reasons = a.reasons + ((lost[pair],) if pair in lost else ())
        pairs.append(
            LinkSuggestion(
                a.kalshi,
                a.polymarket,
                a.orientation,
                a.score,
                suggested,
                reasons,
                titles[a.kalshi],
                titles[a.polymarket],
            )
        )
    return SuggestReport(
        tuple(pairs), len(kalshi), len(polymarket), len(candidates), config.threshold, sum(p.suggested for p in pairs)
    )


# -- output --------------------------------------------------------------------------------------------
def report_json(report: SuggestReport) -> str:
    """`{"pairs": [{kalshi, polymarket, orientation, score, suggested, reasons}]}`."""
    return json.dumps({"pairs": [p.to_json() for p in report.pairs]}, indent=1, ensure_ascii=False) + "\n"


def format_report(report: SuggestReport, limit: int) -> str:
    """The terminal table: a summary line, then the top `limit` pairs with titles and reasons."""
    lines = [
        f"{report.kalshi_markets} Kalshi x {report.polymarket_markets} Polymarket markets; "
        f"{report.candidates_scored} candidate pairs scored, {len(report.pairs)} reported, "
        f"{report.suggested} suggested (score > {report.threshold:g}, one pair per market)",
    ]
    shown = report.pairs[: max(limit, 0)]
    if shown:
        width_k = max(len("kalshi"), *(len(p.kalshi) for p in shown))
        width_p = max(len("polymarket"), *(len(p.polymarket) for p in shown))
        lines.append(
            f"{'#':>4}  {'score':>6}  {'orient':<8}  {'sugg':<4}  {'kalshi':<{width_k}}  {'polymarket':<{width_p}}"
        )
        for n, p in enumerate(shown, 1):
            lines.append(
                f"{n:>4}  {p.score:>6.3f}  {p.orientation.value:<8}  {'yes' if p.suggested else 'no':<4}  {p.kalshi:<{width_k}}  {p.polymarket:<{width_p}}"
            )
            lines.append(f"{'':8}K: {p.kalshi_title}")
            lines.append(f"{'':8}P: {p.polymarket_title}")
            lines.append(f"{'':8}why: {'; '.join(p.reasons)}")
    if len(report.pairs) > len(shown):
        lines.append(f"... {len(report.pairs) - len(shown)} more pairs (raise --limit or use --json)")
    return "\n".join(line.rstrip() for line in lines)


def run_suggest(
    kalshi_path: Path, polymarket_path: Path, json_path: Path | None, threshold: float | None, limit: int
) -> int:
    """`arb links suggest`: 0 on success; 2 on bad input (message on stderr, nothing written)."""
    try:
        if limit < 0:
            raise ConfigError(f"--limit must be >= 0, was {limit}")
        config = SuggestConfig() if threshold is None else SuggestConfig(threshold=threshold)
        if json_path is not None and not Path(json_path).parent.is_dir():
            raise ConfigError(f"{json_path}: the output directory does not exist")
        kalshi = load_kalshi_markets_file(kalshi_path)
        polymarket = load_polymarket_markets_file(polymarket_path)
        report = suggest_links(kalshi, polymarket, config=config)
        if json_path is not None:
            write_text_atomically(json_path, report_json(report), what="the pairs")
    except ArbError as exc:
        print(f"arb links suggest: {exc}", file=sys.stderr)
        return 2
    print(format_report(report, limit))
    return 0
