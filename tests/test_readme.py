"""The README's first example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_first_warp_example_runs():
    text = README.read_text()
    section = text.split("## A first warp", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["out"].shape == (8, 60, 60, 1)
    assert namespace["grad_theta"].shape == (8, 2, 3)
    assert namespace["same"].shape == namespace["out"].shape
