"""Bad input gets a typed error naming the field; solver trouble maps to the error tree."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from solvers import (
    AllocationProblem,
    Allocator,
    AllocatorConfig,
    AtMostOne,
    CandidateSet,
    Capital,
    Conjunction,
    Contract,
    DataError,
    Equivalent,
    ExactlyOne,
    Implies,
    InfeasibleError,
    Instrument,
    Level,
    SetLimits,
    Side,
    UnboundedError,
    kalshi_fee,
)
from solvers.backends import LP_BACKEND_NAMES, make_backend
from solvers.lp import LinearProgram
from solvers.problem import Method

D = Decimal
FEE = kalshi_fee()


_DEFAULT_ASKS = ((D("0.40"), D(10)),)


def _instrument(asks=_DEFAULT_ASKS, **kwargs) -> Instrument:
    return Instrument("i", "kalshi", "A", Side.YES, tuple(Level(p, s) for p, s in asks), FEE, **kwargs)


@pytest.mark.parametrize(
    ("asks", "match"),
    [
        (((D("NaN"), D(1)),), "price must be finite"),
        (((D("Infinity"), D(1)),), "price must be finite"),
        (((D("0.4"), D("-1")),), "size must be non-negative"),
        (((D("0"), D(1)),), r"inside \(0, 1\)"),
        (((D("1.2"), D(1)),), r"inside \(0, 1\)"),
        (((D("0.405"), D(1)),), "tick grid"),
        (((0.4, D(1)),), "must be a Decimal"),
        (((D("0.4"), D(1)), (D("0.4"), D(2))), "twice"),
    ],
)
def test_bad_levels_are_rejected_naming_the_field(asks, match: str) -> None:
    with pytest.raises(DataError, match=match):
        _instrument(asks)


def test_bad_instrument_fields() -> None:
    with pytest.raises(DataError, match="lot_size"):
        _instrument(lot_size=D(0))
    with pytest.raises(DataError, match="side"):
        Instrument("i", "kalshi", "A", "yes", (), FEE)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="fee"):
        Instrument("i", "kalshi", "A", Side.YES, (), 0.07)  # type: ignore[arg-type]


def _set(relations=(), contracts=("A", "B"), instruments=None, **kwargs) -> CandidateSet:
    instruments = instruments if instruments is not None else (_instrument(),)
    return CandidateSet("s", tuple(Contract(c) for c in contracts), instruments, tuple(relations), **kwargs)


def test_bad_candidate_sets() -> None:
    with pytest.raises(DataError, match="unknown contract 'Z'"):
        _set([Implies("A", "Z")])
    with pytest.raises(DataError, match="duplicate contract"):
        _set(contracts=("A", "A"))
    with pytest.raises(DataError, match="trades unknown contract"):
        _set(contracts=("B",))
    with pytest.raises(DataError, match="to itself"):
        _set([Equivalent("A", "A")])
    with pytest.raises(DataError, match="repeats"):
        _set([ExactlyOne(("A", "A"))])
    with pytest.raises(DataError, match="distinct from its result"):
        _set([Conjunction("A", ("A", "B"))])
    with pytest.raises(DataError, match="min_profit_usd"):
        SetLimits(min_profit_usd=D(0))


def test_bad_problems() -> None:
    candidate = _set()
    with pytest.raises(DataError, match="no cash given for venue 'kalshi'"):
        AllocationProblem((candidate,), Capital({"polymarket": D(1)}))
    with pytest.raises(DataError, match="unknown instrument"):
        AllocationProblem((candidate,), Capital({"kalshi": D(1)}), {"ghost": D(1)})
    with pytest.raises(DataError, match="inventory of i"):
        AllocationProblem((candidate,), Capital({"kalshi": D(1)}), {"i": D("NaN")})
    with pytest.raises(DataError, match="cash for venue"):
        Capital({"kalshi": D(-5)})
    with pytest.raises(DataError, match="duplicate candidate set"):
        AllocationProblem((candidate, candidate), Capital({"kalshi": D(1)}))


@pytest.mark.parametrize("method", ["auto", "enumerate", "compact", "cg"])
def test_contradictory_relations_are_data_errors(method: Method) -> None:
    relations = [ExactlyOne(("A", "B")), Equivalent("A", "B")]  # 2 z_A = 1 has no 0/1 solution
    problem = AllocationProblem((_set(relations),), Capital({"kalshi": D(10)}))
    with pytest.raises(DataError, match=r"no outcome|cannot hold"):
        Allocator(problem, config=AllocatorConfig(method=method))


def test_contradictory_equivalences() -> None:
    relations = [Equivalent("A", "B"), Equivalent("A", "B", inverted=True)]
    with pytest.raises(DataError, match="contradicts"):
        Allocator(AllocationProblem((_set(relations),), Capital({"kalshi": D(10)})))


def test_too_many_outcomes_to_enumerate() -> None:
    contracts = tuple(f"c{i}" for i in range(20))
    candidate = CandidateSet("s", tuple(Contract(c) for c in contracts), (), (AtMostOne(contracts[:2]),))
    with pytest.raises(DataError, match="too many outcomes"):
        Allocator(AllocationProblem((candidate,), Capital({})), config=AllocatorConfig(method="enumerate"))


@pytest.mark.parametrize(
    "kwargs",
    [{"slots_per_side": 0}, {"method": "magic"}, {"cg_tolerance_usd": float("nan")}, {"mip_time_limit_ms": -1.0}],
)
def test_bad_config(kwargs) -> None:
    with pytest.raises(DataError):
        AllocatorConfig(**kwargs)


def _lp(cost, lo, hi, row_lo, row_hi, rows) -> LinearProgram:
    start = np.cumsum([0] + [len(r) for r in rows]).astype(np.int32)
    index = np.array([c for r in rows for c, _ in r], dtype=np.int32)
    value = np.array([v for r in rows for _, v in r], dtype=float)
    return LinearProgram(
        np.array(cost, float),
        np.array(lo, float),
        np.array(hi, float),
        np.array(row_lo, float),
        np.array(row_hi, float),
        start,
        index,
        value,
    )


@pytest.mark.parametrize("backend", LP_BACKEND_NAMES)
def test_backends_map_statuses_to_the_error_tree(backend: str) -> None:
    infeasible = _lp([1.0], [0.0], [1.0], [2.0], [np.inf], [[(0, 1.0)]])  # x >= 2 with x <= 1
    solver = make_backend(backend)
    solver.load(infeasible)
    with pytest.raises(InfeasibleError):
        solver.solve()
    unbounded = _lp([-1.0, 0.0], [0.0, 0.0], [np.inf, 1.0], [-np.inf], [1.0], [[(1, 1.0)]])
    solver = make_backend(backend)
    solver.load(unbounded)
    with pytest.raises((UnboundedError, InfeasibleError)) as caught:  # some report "infeasible or unbounded"
        solver.solve()
    assert not isinstance(caught.value, InfeasibleError) or backend == "pulp-cbc"


@pytest.mark.parametrize("backend", LP_BACKEND_NAMES)
def test_nan_in_a_model_is_rejected_before_any_backend_runs(backend: str) -> None:
    lp = _lp([np.nan], [0.0], [1.0], [0.0], [1.0], [[(0, 1.0)]])
    with pytest.raises(DataError, match="cost"):
        make_backend(backend).load(lp)
    with pytest.raises(DataError, match="unknown backend"):
        make_backend("gurobi")
