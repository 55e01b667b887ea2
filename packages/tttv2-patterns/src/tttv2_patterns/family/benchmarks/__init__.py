"""The standard benchmarks over any installed family: ``accuracy`` and ``decode`` (``--model NAME``)."""
