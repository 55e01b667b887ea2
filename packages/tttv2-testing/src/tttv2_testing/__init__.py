"""Testing toolkit: fluent TestSuite, PCC, input capture, pytest plugin, debug mode."""

from tttv2_testing.__about__ import __version__

__all__ = ["__version__"]
