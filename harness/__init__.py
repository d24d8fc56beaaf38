"""Chinese LLM benchmark harness: SuperCLUE-style ability scores plus measured throughput."""

__version__ = "0.1.0"
