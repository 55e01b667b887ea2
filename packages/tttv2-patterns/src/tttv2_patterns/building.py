"""Constructing the block of a spec, with errors that name the module's place in the model."""

from __future__ import annotations

import re

import tttv2_blocks

from tttv2_patterns import config_tree

# A leading "Name.field.sub" (or "field[0].sub") followed by a colon or a space.
_FIELD_PATH = re.compile(r"^([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*|\[\d+\])*)(?=[\s:])")


# Spec type -> block class of blocks that do not live in tttv2_blocks (see ``register_block``).
_REGISTERED_BLOCKS: dict[type, type] = {}


def register_block(spec_type: type, block_cls: type, *, default_impl_config=None) -> None:
    """Make ``block_cls`` the block of ``spec_type``: a family's own block needs no core change.

    After this, a ``DecoderLayerSpec``/``CausalLMSpec`` may hold ``spec_type`` instances anywhere a
    block spec goes (``layers[i].ffn = MoESpec(...)``) and ``CausalLM`` builds ``block_cls(spec,
    impl_config, device)`` for them. The spec tells the patterns what they need through duck typing:
    ``validate()``, ``weight_shapes()`` (block-local checkpoint key -> shape) and ``hidden_dim`` or
    ``dim`` (the residual width it reads and writes, checked against its neighbours').

    Args:
        spec_type: the spec dataclass.
        block_cls: a ``tttv2_blocks.Module`` subclass taking ``(spec, impl_config, device)``.
        default_impl_config: ``(spec, device, mode="both", strategy="default") -> impl config``; registered
            with ``tttv2_blocks.get_default_impl_config`` so ``CausalLM.ImplConfig`` derives its node.

    Raises:
        TypeError: ``spec_type`` is not a class, or already registered to another block.
    """
    if not isinstance(spec_type, type) or not isinstance(block_cls, type):
        raise TypeError(f"register_block: need two classes, got {spec_type!r} and {block_cls!r}")
    known = _REGISTERED_BLOCKS.get(spec_type)
    if known is not None and known is not block_cls:
        raise TypeError(f"register_block: {spec_type.__name__} is already the spec of {known.__qualname__}")
    _REGISTERED_BLOCKS[spec_type] = block_cls
    if default_impl_config is not None:
        tttv2_blocks.get_default_impl_config.register(spec_type)(default_impl_config)


def block_class(spec):
    """The block class of a spec: a registered block (``register_block``), else by the naming
    contract ``XxxSpec`` -> ``tttv2_blocks.Xxx``."""
    for spec_type in type(spec).__mro__:
        if spec_type in _REGISTERED_BLOCKS:
            return _REGISTERED_BLOCKS[spec_type]
    name = type(spec).__name__
    cls = getattr(tttv2_blocks, name.removesuffix("Spec"), None) if name.endswith("Spec") else None
    if cls is None:
        raise TypeError(
            f"no block for spec type {name}: not in tttv2_blocks (expected tttv2_blocks.{name.removesuffix('Spec')}) "
            "and not registered with tttv2_patterns.register_block"
        )
    return cls


def prefixed_message(config_path: str, message: str, impl_config, block_name: str) -> str:
    """Prefix a block's error with the config path of the block.

    ``"qkv_proj.dtype: ..."`` -> ``"layers[0].attention.qkv_proj.dtype: ..."``, and a message naming
    the block class or its impl config (``"RMSNorm.weight_dtype: ..."``) gets the class replaced.
    """
    match = _FIELD_PATH.match(message)
    if match:
        head, rest = match.group(1), match.group(2)
        field_names = set(config_tree.child_names(impl_config) or ())
        if head in (block_name, type(impl_config).__name__):
            return f"{config_path}{rest}{message[match.end() :]}"
        if head in field_names and (rest or message[match.end()] == ":"):
            return f"{config_path}.{message}"
    return f"{config_path}: {message}"


def check_unknown_fields(impl_config, config_path: str) -> None:
    """Reject attributes set on a config that the block does not have (a typo would be ignored)."""
    for path, node in config_tree.iter_nodes(impl_config, config_path):
        unknown = config_tree.unknown_fields(node)
        if unknown:
            fields = [name for name in (config_tree.child_names(node) or ()) if name not in unknown]
            raise ValueError(
                f"{path}.{unknown[0]}: {type(node).__name__} has no field {unknown[0]!r}; its fields are {fields}"
            )


def build_block(spec, impl_config, device, module_path: str):
    """Construct the block for ``spec`` and set its ``module_path``; errors name the config path."""
    config_path = config_tree.module_path_to_config_path(module_path)
    if impl_config is None:
        raise ValueError(f"{config_path}: no impl config (the ImplConfig tree does not match the spec tree)")
    check_unknown_fields(impl_config, config_path)
    cls = block_class(spec)
    try:
        block = cls(spec, impl_config, device)
    except (ValueError, TypeError) as error:
        message = prefixed_message(config_path, str(error), impl_config, cls.__name__)
        try:
            wrapped = type(error)(message)
        except TypeError:  # an exception class with its own constructor signature
            wrapped = (ValueError if isinstance(error, ValueError) else TypeError)(message)
        raise wrapped from error
    block.module_path = module_path
    return block
