"""Tiny models with hand-countable MACs, for the counter tests.

Every model builds on whatever device is current (``with torch.device(...)``),
so the same factory serves meta and CPU runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 reduce, 3x3, 1x1 expand, projection shortcut."""

    def __init__(self, c_in: int, mid: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.downsample(x))


class TinyResNet(nn.Module):
    """Stem conv 3->8 (3x3, stride 2), one bottleneck 8->4->16, pool, fc 16->10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(Bottleneck(8, 4, 16))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        return self.fc(torch.flatten(self.pool(x), 1))


class ViTBlock(nn.Module):
    """Pre-norm encoder block around nn.MultiheadAttention."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class TinyViT(nn.Module):
    """Patch embed (4x4 patches of an 8x8 image: 4 tokens of 16), a custom block,
    an nn.TransformerEncoderLayer (the module with the fused fast path), head 16->10."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.pos = nn.Parameter(torch.zeros(1, 4, 16))
        self.block = ViTBlock(16, 2, 32)
        self.encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        x = self.encoder(self.block(x))
        return self.head(self.norm(x).mean(dim=1))


class GPTBlock(nn.Module):
    """Causal self-attention through F.scaled_dot_product_attention, then an MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).contiguous().view(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyGPT(nn.Module):
    """Token + position embeddings, one block, lm head tied to the token embedding."""

    def __init__(self, vocab: int = 32, dim: int = 16, context: int = 8) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(context, dim)
        self.block = GPTBlock(dim, heads=2)
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.tok.weight  # tied

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok(ids) + self.pos(positions)
        return self.lm_head(self.ln_f(self.block(x)))


class TinyLSTM(nn.Module):
    """Two-layer LSTM 8->16 and a linear head on the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class Recurse(nn.Module):
    """Applies its linear, then calls itself again: on the module stack twice."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8, bias=False)

    def forward(self, x: torch.Tensor, depth: int = 1) -> torch.Tensor:
        x = self.lin(x)
        return self(x, depth - 1) if depth > 0 else x


class SharedTwice(nn.Module):
    """Calls the same Linear module twice; a recursive child besides."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(8, 8)
        self.rec = Recurse()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rec(self.shared(torch.relu(self.shared(x))))


class ThreeRelus(nn.Module):
    """Three relus in a row: each intermediate dies when the next one exists."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(x)
        h = torch.relu(h)
        return torch.relu(h)


class ViewOnly(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1).transpose(0, 0).unsqueeze(0)


class NeedsWeightValue(nn.Module):
    """Uses a weight-derived Python number: needs real weights."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = float(self.lin.weight.abs().max().item()) + 1.0
        return self.lin(x) / scale


class NeedsValue(nn.Module):
    """Uses an input-derived Python number: impossible on meta."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = float(x.abs().max().item()) + 1.0
        return self.lin(x) / scale
