"""Unit tests of the API comparison rules; run anywhere (no ttnn needed).

The nanobind signature texts below are copied from ttnn 0.81.1 (``__nb_signature__``), so the
parser is checked against the real format; the rules are checked on small hand-written cases
whose verdict is obvious from the rule text.
"""

import enum

import _ttnn_api_compare as api
import pytest

LINEAR_TEXT = (
    "def __call__(self, input_tensor_a: ttnn._ttnn.tensor.Tensor, input_tensor_b: ttnn._ttnn.tensor.Tensor, *, "
    "bias: ttnn._ttnn.tensor.Tensor | None = \\0, transpose_a: bool = \\1, "
    'program_config: "ttnn::operations::matmul::MatmulMultiCoreProgramConfig" | '
    "ttnn._ttnn.operations.matmul.MatmulMultiCoreReuseProgramConfig | None = \\2, "
    "prefetcher_pipes: collections.abc.Sequence[ttnn._ttnn.prefetcher_pipe.PrefetcherPipe] = \\3, "
    "in0_column_offset: int | None = \\4) -> ttnn._ttnn.tensor.Tensor"
)
LINEAR_DEFAULTS = (None, False, None, [], None)
CORE_COORD_TEXT = "def __init__(self, arg0: int, arg1: int, /) -> None"


def _sig(text: str, defaults=None) -> api.Signature:
    return api._drop_self(api.parse_nanobind_signature(text, defaults))


def test_parse_nanobind_linear_names_kinds_defaults():
    params = api.parse_nanobind_signature(LINEAR_TEXT, LINEAR_DEFAULTS)
    assert [p.name for p in params] == [
        "self",
        "input_tensor_a",
        "input_tensor_b",
        "bias",
        "transpose_a",
        "program_config",
        "prefetcher_pipes",
        "in0_column_offset",
    ]
    assert [p.kind for p in params[:3]] == [api.POSITIONAL_OR_KEYWORD] * 3
    assert all(p.kind == api.KEYWORD_ONLY for p in params[3:])
    assert not params[1].has_default
    assert params[4].has_default and params[4].default is False
    assert params[6].default == []


def test_parse_positional_only_and_variadics():
    params = _sig(CORE_COORD_TEXT)
    assert [(p.name, p.kind) for p in params] == [
        ("arg0", api.POSITIONAL_ONLY),
        ("arg1", api.POSITIONAL_ONLY),
    ]
    params = _sig("def f(a: int, *args, b: int = \\0, **kwargs) -> None", (3,))
    assert [(p.name, p.kind) for p in params] == [
        ("a", api.POSITIONAL_OR_KEYWORD),
        ("args", api.VAR_POSITIONAL),
        ("b", api.KEYWORD_ONLY),
        ("kwargs", api.VAR_KEYWORD),
    ]
    assert params[2].default == 3


def _emulated(function) -> api.Signature:
    return api.emulator_signature(function)


def test_subset_of_real_keywords_is_compatible():
    def linear(input_tensor_a, input_tensor_b, *, bias=None, transpose_a=False):
        pass

    assert api.signature_problems(_emulated(linear), _sig(LINEAR_TEXT, LINEAR_DEFAULTS)) == []


@pytest.mark.parametrize(
    "source,expected",
    [
        (
            "def linear(input_tensor_a, input_tensor_b, *, biases=None): pass",
            "keyword 'biases' does not exist",
        ),
        ("def linear(input_tensor_b, input_tensor_a): pass", "positional parameter 0 is 'input_tensor_b'"),
        ("def linear(input_tensor_a, input_tensor_b, bias=None): pass", "emulator takes 'bias' positionally"),
        ("def linear(input_tensor_a, input_tensor_b, **kwargs): pass", "emulator accepts **kwargs"),
        ("def linear(input_tensor_a, *, input_tensor_b=None): pass", "ttnn requires 'input_tensor_b'"),
        ("def linear(input_tensor_a, input_tensor_b, *, transpose_a=True): pass", "default of 'transpose_a'"),
    ],
)
def test_incompatible_emulator_signatures_are_reported(source, expected):
    namespace = {}
    exec(source, namespace)  # noqa: S102 - tiny fixed test snippets
    problems = api.signature_problems(_emulated(namespace["linear"]), _sig(LINEAR_TEXT, LINEAR_DEFAULTS))
    assert any(expected in problem for problem in problems), problems


def test_none_default_against_concrete_default_is_not_reported():
    def linear(input_tensor_a, input_tensor_b, *, transpose_a=None):
        pass

    assert api.signature_problems(_emulated(linear), _sig(LINEAR_TEXT, LINEAR_DEFAULTS)) == []


def test_positional_only_real_parameters_match_by_position():
    def exact(x, y, /):
        pass

    def keywordable(x, y):
        pass

    real = _sig(CORE_COORD_TEXT)
    assert api.signature_problems(_emulated(exact), real) == []
    problems = api.signature_problems(_emulated(keywordable), real)
    assert len(problems) == 2 and all("positional-only" in p for p in problems), problems


def test_merged_overloads_may_default_what_one_overload_requires():
    overloads = [
        _sig("def f(input_tensor: T, grid: T, shard_shape: T, output_dtype: T | None = \\0) -> T", (None,)),
        _sig("def f(input_tensor: T, sharded_memory_config: T, output_dtype: T | None = \\0) -> T", (None,)),
    ]

    def merged(input_tensor, grid, shard_shape=None, output_dtype=None):
        pass

    problems, _ = api.best_overload_problems(_emulated(merged), overloads)
    assert problems == []

    def wrong(input_tensor, grid=None, shard_shape=None, output_dtype=None):
        pass

    problems, _ = api.best_overload_problems(_emulated(wrong), overloads)
    assert problems, "grid/sharded_memory_config is required by every overload"


class _FakeNanobindMethod:
    def __init__(self, text, defaults):
        self.__nb_signature__ = ((text, None, defaults),)


class _FakeCppOperation:
    """Stands for a nanobind-bound ``linear_t`` object: its signature lives on type(obj).__call__."""


_FakeCppOperation.__call__ = _FakeNanobindMethod(LINEAR_TEXT, LINEAR_DEFAULTS)


class _FakeFastOperation:
    python_fully_qualified_name = "ttnn.linear"
    function = _FakeCppOperation()


def test_real_signatures_unwraps_fast_operation_and_nanobind_call():
    overloads = api.real_signatures(_FakeFastOperation())
    assert overloads is not None and len(overloads) == 1
    assert [p.name for p in overloads[0]][:2] == ["input_tensor_a", "input_tensor_b"]


class _RealLayout(enum.Enum):
    ROW_MAJOR = 0
    TILE = 1


class _EmulatedLayout(enum.Enum):
    ROW_MAJOR = 0
    TILE = 1


class _EmulatedLayoutWithExtra(enum.Enum):
    ROW_MAJOR = 0
    TILE = 1
    SPARSE = 2


def test_enum_members_must_be_a_subset():
    assert api.compare_object("Layout", _EmulatedLayout, _RealLayout) == []
    problems = api.compare_object("Layout", _EmulatedLayoutWithExtra, _RealLayout)
    assert problems and "SPARSE" in problems[0]


def test_enum_member_constants_compare_by_name():
    assert api.compare_object("TILE_LAYOUT", _EmulatedLayout.TILE, _RealLayout.TILE) == []
    assert api.compare_object("TILE_LAYOUT", _EmulatedLayout.TILE, _RealLayout.ROW_MAJOR)


class _RealTensor:
    @property
    def shape(self):
        return None

    def memory_config(self):
        return None


class _EmulatedTensorGood:
    @property
    def shape(self):
        return None

    def memory_config(self):
        return None


class _EmulatedTensorBad:
    def shape(self):
        return None

    @property
    def memory_config(self):
        return None

    def shards(self):
        return None


def test_class_members_must_exist_with_the_same_kind():
    assert api.compare_object("Tensor", _EmulatedTensorGood, _RealTensor) == []
    problems = api.compare_object("Tensor", _EmulatedTensorBad, _RealTensor)
    assert any("'shape' is a method in the emulator" in p for p in problems), problems
    assert any("'memory_config' is an attribute/property in the emulator" in p for p in problems), problems
    assert any("'shards' does not exist" in p for p in problems), problems
    skipped = api.compare_object("Tensor", _EmulatedTensorBad, _RealTensor, frozenset({"Tensor.shards"}))
    assert not any("shards" in p for p in skipped)


def test_plain_constants_compare_by_value():
    assert api.compare_object("TILE_SIZE", 32, 32) == []
    assert api.compare_object("TILE_SIZE", 16, 32)


def test_var_positional_emulator_may_stand_for_arity_overloads():
    overloads = [
        _sig("def reshape(self, arg0: int, arg1: int, arg2: int, arg3: int, /) -> T"),
        _sig("def reshape(self, arg: T, /) -> T"),
    ]

    def reshape(*shape):
        pass

    def reshape_with_bad_keyword(*shape, pad=0):
        pass

    assert api.best_overload_problems(_emulated(reshape), overloads)[0] == []
    problems, _ = api.best_overload_problems(_emulated(reshape_with_bad_keyword), overloads)
    assert any("'pad' does not exist" in p for p in problems), problems
    # With a single real overload *args is still an error: nothing justifies the extra arity.
    assert api.best_overload_problems(_emulated(reshape), overloads[1:])[0]
