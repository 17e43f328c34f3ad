"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path


def test_readme_python_example_runs(capsys) -> None:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("fed-dec-hold ")  # a plan was found and printed
    assert len(printed) == 3  # the plan, then the profit riskless and worst_case after the tick
