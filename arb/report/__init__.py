"""`arb report`: the P&L report of a ledger or a replay (docs/report.md)."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation

from arb.errors import ArbError

__all__ = ["run_report"]


def run_report(args: argparse.Namespace) -> int:
    """The command: exit 0 with the pages written, 2 on a bad input (named on stderr)."""
    try:
        import matplotlib  # noqa: F401 - the plots need it (the `report` extra)
    except ImportError:
        print("arb report needs matplotlib: pip install -e '.[report]'", file=sys.stderr)
        return 2
    from arb.report.build import load_sources, write_reports

    capital: Decimal | None = None
    if args.capital is not None:
        try:
            capital = Decimal(args.capital)
        except InvalidOperation:
            print(f"arb report: --capital {args.capital!r} is not a decimal amount", file=sys.stderr)
            return 2
    try:
        pages = write_reports(load_sources(args.source), args.out, starting_capital_usd=capital)
    except ArbError as exc:
        print(f"arb report: {exc}", file=sys.stderr)
        return 2
    for page in pages:
        print(page)
    return 0
