"""Models: presets, chat templates and tokenizers, and the tiny random models used in tests and the quick start."""
