"""The README's python blocks: the quick start runs as written; the design-document examples compile."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
NOT_RUN = "# needs "  # first line of blocks that need a model_zoo model / weights


def test_readme_has_the_quick_start_and_both_design_examples():
    assert len(BLOCKS) == 3
    assert sum(block.startswith(NOT_RUN) for block in BLOCKS) == 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block(index):
    block = BLOCKS[index]
    code = compile(block, f"README.md python block {index}", "exec")  # valid Python in every case
    if block.startswith(NOT_RUN):
        return
    exec(code, {"__name__": "readme_example"})  # its own asserts: every case passes, debug finds nothing


def test_readme_public_api_section_lists_exactly_dunder_all():
    import tttv2_testing

    section = README.read_text().split("## Public API", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(\w+)`", section)) - {"tttv2_testing"}
    assert listed == set(tttv2_testing.__all__)
    for name in tttv2_testing.__all__:
        assert hasattr(tttv2_testing, name), name
