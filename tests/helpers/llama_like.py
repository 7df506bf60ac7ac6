"""A Llama-style decoder (RMSNorm, rotary positions, SwiGLU, grouped-query
attention) whose mask building calls `.item()` on input-derived tensors, as
Hugging Face's mask helpers do. Plain meta execution fails on it; hybrid
execution counts it exactly. `llama_7b()` has the shape of Llama-7B.

Analytic MACs for T tokens (full attention, the FlopCounterMode convention):
    L * (T*d*(d + 2*kv + d) + 3*T*d*f + 2*T*T*d) + T*d*V
with kv = kv_heads * head_dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Config:
    vocab: int = 32000
    dim: int = 4096
    layers: int = 32
    heads: int = 32
    kv_heads: int = 32
    intermediate: int = 11008

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def analytic_macs(self, tokens: int) -> int:
        t, d, kv = tokens, self.dim, self.kv_heads * self.head_dim
        per_layer = t * d * (d + 2 * kv + d) + 3 * t * d * self.intermediate + 2 * t * t * d
        return self.layers * per_layer + t * d * self.vocab

    def analytic_params(self) -> int:
        d, kv = self.dim, self.kv_heads * self.head_dim
        per_layer = d * (d + 2 * kv + d) + 3 * d * self.intermediate + 2 * d
        return self.layers * per_layer + 2 * self.vocab * d + d  # untied embed + head, final norm


class RMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        kv = cfg.kv_heads * cfg.head_dim
        self.q_proj = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.k_proj = nn.Linear(cfg.dim, kv, bias=False)
        self.v_proj = nn.Linear(cfg.dim, kv, bias=False)
        self.o_proj = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        cfg = self.cfg
        q = self.q_proj(x).view(b, t, cfg.heads, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        repeat = cfg.heads // cfg.kv_heads
        k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, cfg.dim))


class MLP(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.dim, cfg.intermediate, bias=False)
        self.up_proj = nn.Linear(cfg.dim, cfg.intermediate, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.dim)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.dim)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaLike(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab, cfg.dim)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.dim)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab, bias=False)
        inv_freq = 1.0 / (10000 ** (torch.arange(0, cfg.head_dim, 2).float() / cfg.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mask = self.build_mask(attention_mask)
        x = self.embed_tokens(input_ids)
        positions = torch.arange(input_ids.shape[1], device=x.device)  # device=meta under hybrid: made real
        freqs = positions[:, None].float() * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x))

    def build_mask(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Causal + padding mask, built like Hugging Face's helpers: with `.item()`."""
        t = attention_mask.shape[1]
        longest = int(attention_mask.sum(dim=-1).max().item())  # input-derived Python int
        if longest == 0:
            raise ValueError("every sequence is empty")
        causal = torch.full((t, t), float("-inf"), device=self.inv_freq.device).triu(1)
        if bool((attention_mask == 0).any().item()):
            causal = causal.masked_fill(attention_mask[:, None, None, :] == 0, float("-inf"))
        return causal


def llama_7b() -> LlamaLike:
    return LlamaLike(Config())


def tiny_llama() -> LlamaLike:
    return LlamaLike(Config(vocab=128, dim=64, layers=2, heads=4, kv_heads=2, intermediate=160))
