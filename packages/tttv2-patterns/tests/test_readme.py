"""The README example runs as written (it builds its own tiny random checkpoint)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(device_name, capsys):
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = example.replace('"N150"', repr(device_name))  # run it on the device under test
    exec(compile(example, str(README), "exec"), {})
    assert "torch.Size([1, 499])" in capsys.readouterr().out
