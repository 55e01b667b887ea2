"""The named errors of the family kit: each message says what was wrong, where, and what was expected."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be used as it is; the message names the file and what is wrong."""


class ConfigError(CheckpointError):
    """A ``config.json`` value the kit cannot map; ``key`` is the config key (``"rms_norm_eps"``)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class UnmappedModuleError(ValueError):
    """An HF module (or setting) that no TTTv2 block implements; the message names each one."""


class UnknownFamilyError(ValueError):
    """No installed family has this name or handles these HF ``architectures``."""
