"""TTTv2's own program beside TTTv1's precisions (issue 17's third target), on the smallest config.

Here, not in tttv2-patterns' tests: the table reads the Llama configs this family ships."""

import io

from tttv2_patterns.perf_vs_tttv1 import compare


def test_the_table_names_the_published_figure_and_the_op_kind_that_differs_most():
    out = io.StringIO()
    speeds = compare("Llama-3.2-1B", "N150", rows=3, out=out)
    text = out.getvalue()
    assert speeds["published"] == 87.8  # PERF.md, Performance table
    assert "TTTv1 published 87.8" in text and "PREDICTED TTTv2" in text
    # The family's bfloat8_b MLP weights read twice the bytes of TTTv1's bfloat4_b: slower, and the
    # matmuls are the op kind that differs most.
    assert speeds["tttv2"] < speeds["tttv1-precision"]
    assert text.splitlines()[2].split()[0] == "ttnn.linear"
