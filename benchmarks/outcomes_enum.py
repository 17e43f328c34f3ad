"""Feasible joint outcomes of a candidate set, enumerated from the relations' meaning.

An independent reference for the benchmarks: it shares no code with `solvers.outcomes` (which
compiles relations into linear rows over outcome variables). Contracts are assigned 0/1 one at a
time, depth first; after each assignment every relation mentioning that contract is checked on the
contracts assigned so far, so a branch dies as soon as a relation can no longer hold. The number of
search nodes is therefore a small multiple of the number of feasible outcomes (times the depth), not
2^n; `tests/support.semantic_outcomes` (the plain 2^n brute force) cross-checks it on small sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from solvers.problem import AtMostOne, CandidateSet, Conjunction, Equivalent, ExactlyOne, Implies, Relation

__all__ = ["OutcomeLimitError", "feasible_outcomes", "set_outcomes"]

_UNSET = -1


class OutcomeLimitError(ValueError):
    """A set has more feasible outcomes than the caller allowed."""


def _members(relation: Relation) -> tuple[str, ...]:
    if isinstance(relation, ExactlyOne | AtMostOne):
        return tuple(relation.contracts)
    if isinstance(relation, Implies):
        return (relation.antecedent, relation.consequent)
    if isinstance(relation, Equivalent):
        return (relation.a, relation.b)
    if isinstance(relation, Conjunction):
        return (relation.result, *relation.operands)
    raise TypeError(f"unknown relation type {type(relation).__name__}")


def _can_still_hold(relation: Relation, index: dict[str, int], value: list[int], *, with_risky: bool) -> bool:
    """False once the contracts assigned so far (value != _UNSET) violate the relation whatever the
    unassigned ones become."""
    if isinstance(relation, ExactlyOne | AtMostOne):
        values = [value[index[c]] for c in relation.contracts]
        ones = values.count(1)
        if ones > 1:
            return False
        return not (isinstance(relation, ExactlyOne) and ones == 0 and _UNSET not in values)
    if isinstance(relation, Implies):
        return not (value[index[relation.antecedent]] == 1 and value[index[relation.consequent]] == 0)
    if isinstance(relation, Equivalent):
        if relation.settlement_risk and not with_risky:
            return True  # the venues may settle the two differently
        a, b = value[index[relation.a]], value[index[relation.b]]
        if _UNSET in (a, b):
            return True
        return (a != b) if relation.inverted else (a == b)
    if isinstance(relation, Conjunction):
        result = value[index[relation.result]]
        operands = [value[index[c]] for c in relation.operands]
        if result == 1 and 0 in operands:
            return False
        return not (result == 0 and _UNSET not in operands and all(v == 1 for v in operands))
    raise TypeError(f"unknown relation type {type(relation).__name__}")


def feasible_outcomes(
    contracts: Sequence[str], relations: Sequence[Relation], *, with_risky: bool = True, limit: int = 1 << 16
) -> np.ndarray:
    """Every assignment of 0/1 to `contracts` (1 = resolves YES) that satisfies all relations, as a
    (count, len(contracts)) uint8 array in lexicographic order (0 before 1). `with_risky=False` drops
    the settlement-risk equivalences (the venues may settle them differently). Raises
    OutcomeLimitError past `limit` outcomes."""
    index = {c: k for k, c in enumerate(contracts)}
    if len(index) != len(contracts):
        raise ValueError(f"duplicate contract ids in {list(contracts)}")
    touching: list[list[Relation]] = [[] for _ in contracts]
    for relation in relations:
        for contract in set(_members(relation)):
            if contract not in index:
                raise ValueError(f"relation {relation} names unknown contract {contract!r}")
            touching[index[contract]].append(relation)
    n = len(contracts)
    value = [_UNSET] * n
    found: list[list[int]] = []

    def visit(depth: int) -> None:
        if depth == n:
            if len(found) >= limit:
                raise OutcomeLimitError(f"more than {limit} feasible outcomes")
            found.append(value.copy())
            return
        for bit in (0, 1):
            value[depth] = bit
            if all(_can_still_hold(r, index, value, with_risky=with_risky) for r in touching[depth]):
                visit(depth + 1)
        value[depth] = _UNSET

    visit(0)
    return np.array(found, dtype=np.uint8).reshape(len(found), n)


def set_outcomes(candidate: CandidateSet, *, with_risky: bool = True, limit: int = 1 << 16) -> np.ndarray:
    """`feasible_outcomes` over a candidate set's contracts, in `candidate.contracts` order."""
    return feasible_outcomes(
        [c.id for c in candidate.contracts], candidate.relations, with_risky=with_risky, limit=limit
    )
