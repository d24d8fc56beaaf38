"""Chinese LLM benchmark harness: SuperCLUE-style ability scores plus measured throughput."""

__version__ = "0.1.0"

__all__ = ["EvalResult", "evaluate"]


def __getattr__(name: str):
    """`harness.evaluate` and `harness.EvalResult`, imported on first use so `import harness.cli` stays light."""
    if name in __all__:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name}")
