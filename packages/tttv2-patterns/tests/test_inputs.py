"""Prompt normalisation: every accepted form gives one list of token ids per user."""

import pytest
import torch
from tttv2_hwconfig import ttnn
from tttv2_patterns.inputs import prompt_token_ids


def test_seed_form_ttnn_host_tensor():
    # The design doc's line: a 1-D host tensor (uint32) of one user's prompt.
    assert prompt_token_ids(ttnn.from_torch(torch.tensor([1, 2, 3, 4]))) == [[1, 2, 3, 4]]


def test_torch_list_and_ragged_batch():
    assert prompt_token_ids(torch.tensor([[5, 6], [7, 8]])) == [[5, 6], [7, 8]]
    assert prompt_token_ids([9, 10]) == [[9, 10]]
    assert prompt_token_ids([[1, 2, 3], [4], torch.tensor([5, 6])]) == [[1, 2, 3], [4], [5, 6]]


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (torch.tensor([1.0, 2.0]), TypeError, "integer"),
        ([[1, 2], []], ValueError, r"prompt_ids\[1\]: empty"),
        ([[1, -2]], ValueError, "negative"),
        ("hello", TypeError, "str"),
        ([[1, "a"]], TypeError, r"prompt_ids\[0\]"),
    ],
)
def test_bad_prompts_name_the_user(bad, error, match):
    with pytest.raises(error, match=match):
        prompt_token_ids(bad)
