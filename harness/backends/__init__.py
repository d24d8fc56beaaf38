"""Inference backends behind one small interface, imported only when asked for (torch and vllm are heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.backends.base import Backend

BACKENDS = ("hf",)


def create_backend(name: str, **options: Any) -> "Backend":
    if name == "hf":
        try:
            from harness.backends.hf import HFBackend
        except ImportError as e:
            raise HarnessError(f"--backend hf needs torch and transformers ({e.name} missing): pip install torch transformers") from None
        return HFBackend(**options)
    raise HarnessError(f"--backend: unknown backend '{name}' (available: {', '.join(BACKENDS)})")
