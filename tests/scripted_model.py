"""A real transformer whose greedy output is fixed text: a judge for end-to-end tests whose verdicts parse, or a model
whose answers are known by hand (a tiny Qwen3 with the real tokenizer: its embedding is untied here).

The weights of a tiny qwen2 folder are rewritten so the model is a bigram table: attention and MLP outputs are
zeroed (the residual stream stays the token's embedding), embeddings are basis vectors, and lm_head maps each
token of the script to the next one. After any token outside the script it starts the script; after the
script's last token it emits EOS. Every engine runs it as the ordinary Qwen2ForCausalLM it is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def build_scripted_model(base: Path, out: Path, text: str) -> Path:
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    shutil.copytree(base, out)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("tie_word_embeddings"):  # (tiny Qwen3 ties them) the bigram table needs its own output head
        config["tie_word_embeddings"] = False
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    tok = AutoTokenizer.from_pretrained(out)
    chain = tok.encode(text, add_special_tokens=False)
    eos = tok.convert_tokens_to_ids(tok.eos_token)
    if len(set(chain)) != len(chain) or eos in chain:
        raise ValueError(f"script {text!r} needs distinct tokens, got {chain}")
    sd = load_file(str(out / "model.safetensors"))
    hidden = sd["model.embed_tokens.weight"].shape[1]
    if len(chain) + 2 > hidden:
        raise ValueError("script too long for the model's hidden size")
    basis = torch.eye(hidden)
    embed = basis[0].repeat(sd["model.embed_tokens.weight"].shape[0], 1)  # every other token: e0
    for i, t in enumerate(chain):
        embed[t] = basis[i + 1]
    head = torch.zeros_like(sd["model.embed_tokens.weight"])
    for k, t in enumerate(chain):
        head[t] = 50.0 * basis[k]  # after e_k comes chain[k]
    head[eos] = 50.0 * basis[len(chain)]
    sd["model.embed_tokens.weight"] = embed.contiguous()
    sd["lm_head.weight"] = head.contiguous()
    sd["model.norm.weight"] = torch.ones(hidden)
    for name in list(sd):
        if name.endswith(("self_attn.o_proj.weight", "mlp.down_proj.weight")):
            sd[name] = torch.zeros_like(sd[name])
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out
