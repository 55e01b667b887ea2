"""README.md shows every block's page from docs/ verbatim, so its examples are the tested ones."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).parents[1]


@pytest.mark.parametrize(
    "page", ["normalization", "embeddings", "rope", "attention", "ffn", "moe", "lm_head"]
)
def test_readme_contains_the_docs_page(page):
    readme = (ROOT / "README.md").read_text()
    assert (ROOT / "docs" / f"{page}.md").read_text().strip() in readme, (
        f"README.md is out of date with docs/{page}.md; re-assemble it from docs/"
    )
