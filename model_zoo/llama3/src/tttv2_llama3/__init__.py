"""TTTv2 model-zoo family: Llama 3.x (ModelFactory, demo)."""

__all__: list[str] = []
