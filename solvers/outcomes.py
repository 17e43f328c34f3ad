"""Feasible joint outcomes of a candidate set as an integer system over 0/1 outcome variables.

Contracts linked by a curated, risk-free equivalence settle together, so they share one outcome
variable: contract c is the literal (v, parity) with z_c = z_v (parity 0) or 1 - z_v (parity 1).
Every other relation becomes an integer row lo <= sum a_v z_v <= hi (docs/optimization.md#outcome-sets):

    exactly one       sum z = 1                 implication A => B   z_B - z_A >= 0
    at most one       sum z <= 1                risky equivalence    z_A - z_B = 0  (or z_A + z_B = 1)
    conjunction C = AND(A_i):  z_C <= z_A_i,  z_C >= sum z_A_i - (n - 1)

Two systems share the same variables: `Z` (all relations) and `Z_err` (risky equivalences dropped:
the settlement-risk outcomes in which linked contracts disagree).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from solvers.errors import DataError
from solvers.problem import AtMostOne, Conjunction, Equivalent, ExactlyOne, Implies, Relation

__all__ = ["OutcomeRow", "OutcomeSystem", "signed_parity"]


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """lo <= sum(coef * z[var]) <= hi over integers; None means unbounded on that side."""

    coefs: tuple[tuple[int, int], ...]
    lo: int | None
    hi: int | None

    def holds(self, z: Sequence[int]) -> bool:
        activity = sum(coef * z[var] for var, coef in self.coefs)
        return (self.lo is None or activity >= self.lo) and (self.hi is None or activity <= self.hi)


class _ParityUnionFind:
    """Union-find whose elements carry a parity relative to their root (for inverted links)."""

    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {item: item for item in items}
        self.parity = dict.fromkeys(self.parent, 0)

    def find(self, item: str) -> tuple[str, int]:
        """(root, parity of item relative to root), compressing the path."""
        parent = self.parent[item]
        if parent == item:
            return item, 0
        root, parent_parity = self.find(parent)
        self.parent[item] = root
        self.parity[item] ^= parent_parity
        return root, self.parity[item]

    def union(self, a: str, b: str, parity: int) -> bool:
        """Record z_a = z_b XOR parity; False if that contradicts what is known."""
        root_a, par_a = self.find(a)
        root_b, par_b = self.find(b)
        if root_a == root_b:
            return (par_a ^ par_b) == parity
        self.parent[root_b] = root_a
        self.parity[root_b] = par_a ^ par_b ^ parity
        return True


class OutcomeSystem:
    """The 0/1 outcome system of one candidate set.

    variables: one per class of risk-free-equivalent contracts, named by a representative
    literal[contract] = (variable, parity)
    rows: integer rows over the variables (risky equivalences included iff `with_risky_links`)
    """

    def __init__(self, contracts: Sequence[str], relations: Sequence[Relation], *, with_risky_links: bool) -> None:
        forest = _ParityUnionFind(contracts)
        for relation in relations:
            if not isinstance(relation, Equivalent) or relation.settlement_risk:
                continue  # only curated risk-free links merge outcome variables
            if not forest.union(relation.a, relation.b, int(relation.inverted)):
                raise DataError(f"equivalence {relation.a}~{relation.b} contradicts the other links")
        roots: dict[str, int] = {}
        self.literal: dict[str, tuple[int, int]] = {}
        for contract in contracts:
            root, parity = forest.find(contract)
            var = roots.setdefault(root, len(roots))
            self.literal[contract] = (var, parity)
        self.names: tuple[str, ...] = tuple(roots)
        self.n = len(roots)
        rows: list[OutcomeRow] = []
        for relation in relations:
            rows.extend(self._rows_of(relation, with_risky_links))
        unique: dict[tuple[tuple[tuple[int, int], ...], int | None, int | None], OutcomeRow] = {}
        for row in rows:
            unique.setdefault((row.coefs, row.lo, row.hi), row)
        self.rows: tuple[OutcomeRow, ...] = tuple(unique.values())
        self.has_risky_links = any(isinstance(r, Equivalent) and r.settlement_risk for r in relations)

    # -- building rows -----------------------------------------------------------------------
    def _affine(self, terms: Iterable[tuple[str, int]]) -> tuple[dict[int, int], int]:
        """sum coef * z_contract as (coefs over variables, constant)."""
        coefs: dict[int, int] = {}
        constant = 0
        for contract, coef in terms:
            var, parity = self.literal[contract]
            if parity:
                constant += coef
                coefs[var] = coefs.get(var, 0) - coef
            else:
                coefs[var] = coefs.get(var, 0) + coef
        return {v: c for v, c in coefs.items() if c}, constant

    def _row(
        self, terms: Iterable[tuple[str, int]], lo: int | None, hi: int | None, relation: Relation
    ) -> list[OutcomeRow]:
        coefs, constant = self._affine(terms)
        lo = None if lo is None else lo - constant
        hi = None if hi is None else hi - constant
        if not coefs:
            if (lo is not None and lo > 0) or (hi is not None and hi < 0):
                raise DataError(f"relation {relation} cannot hold given the equivalences")
            return []
        return [OutcomeRow(tuple(sorted(coefs.items())), lo, hi)]

    def _rows_of(self, relation: Relation, with_risky_links: bool) -> list[OutcomeRow]:
        match relation:
            case ExactlyOne(contracts):
                return self._row(((c, 1) for c in contracts), 1, 1, relation)
            case AtMostOne(contracts):
                return self._row(((c, 1) for c in contracts), None, 1, relation)
            case Implies(antecedent, consequent):
                return self._row(((consequent, 1), (antecedent, -1)), 0, None, relation)
            case Equivalent(a, b, inverted, settlement_risk):
                if not settlement_risk or not with_risky_links:
                    return []
                if inverted:
                    return self._row(((a, 1), (b, 1)), 1, 1, relation)
                return self._row(((a, 1), (b, -1)), 0, 0, relation)
            case Conjunction(result, operands):
                rows = []
                for operand in operands:
                    rows += self._row(((result, 1), (operand, -1)), None, 0, relation)
                rows += self._row(((result, 1), *((o, -1) for o in operands)), 1 - len(operands), None, relation)
                return rows
            case _:
                raise DataError(f"unknown relation type, was {type(relation).__name__}")

    # -- queries -----------------------------------------------------------------------------
    def contract_value(self, z: Sequence[int], contract: str) -> int:
        var, parity = self.literal[contract]
        return z[var] ^ parity

    def is_feasible(self, z: Sequence[int]) -> bool:
        return len(z) == self.n and all(v in (0, 1) for v in z) and all(row.holds(z) for row in self.rows)

    def dense(self, *, integer: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows as a dense matrix with bounds: floats with +-inf where open (for solvers), or exact
        int64 with wide sentinels where open (for enumeration)."""
        m = len(self.rows)
        matrix: np.ndarray
        lo: np.ndarray
        hi: np.ndarray
        if integer:
            matrix = np.zeros((m, self.n), dtype=np.int64)
            lo = np.full(m, np.iinfo(np.int64).min // 4, dtype=np.int64)
            hi = np.full(m, np.iinfo(np.int64).max // 4, dtype=np.int64)
        else:
            matrix, lo, hi = np.zeros((m, self.n)), np.full(m, -np.inf), np.full(m, np.inf)
        for r, row in enumerate(self.rows):
            for var, coef in row.coefs:
                matrix[r, var] = coef
            if row.lo is not None:
                lo[r] = row.lo
            if row.hi is not None:
                hi[r] = row.hi
        return matrix, lo, hi

    def enumerate(self, limit: int) -> np.ndarray | None:
        """All feasible outcomes as a (count, n) uint8 array, or None if there are more than
        `limit` (or the search front grows too wide to tell). Breadth-first over the variables with
        exact integer interval pruning, vectorised: a partial assignment survives only while every
        row can still reach its bounds with the variables not yet assigned."""
        m = len(self.rows)
        matrix, lo, hi = self.dense(integer=True)
        pos_left = np.maximum(matrix, 0).sum(axis=1)
        neg_left = np.minimum(matrix, 0).sum(axis=1)
        front = np.zeros((1, self.n), dtype=np.uint8)
        activity = np.zeros((1, m), dtype=np.int64)
        width_limit = 16 * max(limit, 1024)
        for var in self._assignment_order(matrix):
            column = matrix[:, var]
            pos_left = pos_left - np.maximum(column, 0)
            neg_left = neg_left - np.minimum(column, 0)
            with_one = front.copy()
            with_one[:, var] = 1
            front = np.concatenate([front, with_one])
            activity = np.concatenate([activity, activity + column])
            viable = np.all((activity + pos_left >= lo) & (activity + neg_left <= hi), axis=1)
            front, activity = front[viable], activity[viable]
            if len(front) > width_limit:
                return None
        if len(front) > limit:
            return None
        if not len(front):
            raise DataError("the relations admit no outcome at all")
        order = np.lexsort(front.T[::-1])  # deterministic order: lexicographic by variable
        return front[order]

    def _assignment_order(self, matrix: np.ndarray) -> list[int]:
        """Variables in an order that closes rows early (so pruning bites early): repeatedly the
        variable sharing the most rows with those already assigned, ties by index."""
        touching = matrix != 0
        assigned = np.zeros(self.n, dtype=bool)
        row_started = np.zeros(len(matrix), dtype=bool)
        order = []
        for _ in range(self.n):
            score = np.where(assigned, -1, touching[row_started].sum(axis=0) if row_started.any() else 0)
            var = int(np.argmax(score))
            order.append(var)
            assigned[var] = True
            row_started |= touching[:, var]
        return order

    def has_integral_relaxation(self) -> bool:
        """True when {0 <= z <= 1, rows} is provably an integral polytope, so the compact LP dual
        is exact. Recognised per connected component: (a) a single row with +-1 coefficients, or
        (b) rows of two +-1 entries whose signed graph is balanced (a network matrix after
        complementing some variables). Both are totally unimodular."""
        component = list(range(self.n))

        def root(v: int) -> int:
            while component[v] != v:
                component[v] = component[component[v]]
                v = component[v]
            return v

        for row in self.rows:
            first = row.coefs[0][0]
            for var, _ in row.coefs[1:]:
                component[root(var)] = root(first)
        rows_by_component: dict[int, list[OutcomeRow]] = {}
        for row in self.rows:
            rows_by_component.setdefault(root(row.coefs[0][0]), []).append(row)
        for rows in rows_by_component.values():
            if any(abs(coef) != 1 for row in rows for _, coef in row.coefs):
                return False
            if len(rows) == 1:
                continue
            if any(len(row.coefs) != 2 for row in rows):
                return False
            if not _balanced(rows):
                return False
        return True


def _balanced(rows: Sequence[OutcomeRow]) -> bool:
    """Each row a*z_u + b*z_v with a, b in {+1, -1}: can variables be complemented so that every
    row becomes a difference (opposite signs)? Same-sign rows need u, v in different flip classes."""
    return signed_parity((u, v, int(a == b)) for (u, a), (v, b) in (row.coefs for row in rows)) is not None


def signed_parity(edges: Iterable[tuple[Hashable, Hashable, int]]) -> dict[Hashable, int] | None:
    """Two-colour a signed graph: parity[v] == parity[u] ^ differ for every edge (u, v, differ), the
    first node of each connected part (in edge order) getting 0; None when some cycle is odd.
    Used for complement flips of difference systems and for link orientations."""
    adjacency: dict[Hashable, list[tuple[Hashable, int]]] = {}
    for u, v, differ in edges:
        adjacency.setdefault(u, []).append((v, differ))
        adjacency.setdefault(v, []).append((u, differ))
    parity: dict[Hashable, int] = {}
    for start in adjacency:
        if start in parity:
            continue
        parity[start] = 0
        stack = [start]
        while stack:
            u = stack.pop()
            for v, differ in adjacency[u]:
                want = parity[u] ^ differ
                if v not in parity:
                    parity[v] = want
                    stack.append(v)
                elif parity[v] != want:
                    return None
    return parity
