"""Small torch models exported to ONNX by the tests, with both PyTorch exporters.

Each model has distinct, non-trivial values in every parameter and
BatchNorm statistic (`randomized`): exporters store value-identical tensors
once (an untrained LayerNorm's weight is all ones), and a zero BatchNorm fold
leaves no bias, so fresh initialisation would blur the parameter check.

`write_example_onnx(path)` writes the small CNN for example_repo.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class SmallCNN(nn.Module):
    """Stem conv + BN, depthwise-separable block, grouped conv, max pool, grouped
    transposed conv + BN, global pool, linear head. Input [1, 3, 32, 32]."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)  # depthwise
        self.bn2 = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 32, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(32)
        self.grouped = nn.Conv2d(32, 32, 3, padding=1, groups=4)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ConvTranspose2d(32, 16, 2, stride=2, groups=2)
        self.bn4 = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.stem(x)))
        x = F.relu6(self.bn2(self.dw(x)))
        x = self.bn3(self.pw(x))
        x = self.pool(F.hardswish(self.grouped(x)))
        x = F.relu(self.bn4(self.up(x)))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


class CausalBlock(nn.Module):
    """Pre-norm causal self-attention through F.scaled_dot_product_attention."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return x + self.proj(y.transpose(1, 2).reshape(b, t, d))


class Encoder(nn.Module):
    """Linear embedding, learned positions, two nn.TransformerEncoderLayer
    (nn.MultiheadAttention), a causal SDPA block, norm, head. Input [2, 16, 24]."""

    def __init__(self, feat: int = 24, dim: int = 32, heads: int = 4, tokens: int = 16) -> None:
        super().__init__()
        self.embed = nn.Linear(feat, dim)
        self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 64, dropout=0.0, batch_first=True)
        self.layers = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.causal = CausalBlock(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.embed(x) + self.pos)
        return self.head(self.norm(self.causal(x)))


class MLP(nn.Module):
    """Three layers; the last is an einsum against its own weight. Input [4, 64]."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 128)
        self.out_weight = nn.Parameter(torch.zeros(10, 128))
        self.out_bias = nn.Parameter(torch.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.fc2(F.gelu(self.fc1(x))))
        return torch.einsum("bd,od->bo", x, self.out_weight) + self.out_bias


class RNNTagger(nn.Module):
    """Embedding, a two-layer bidirectional LSTM, a GRU, a linear head. Input ids [2, 7]."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(64, 24, batch_first=True)
        self.head = nn.Linear(24, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x, _ = self.lstm(self.embed(ids))
        x, _ = self.gru(x)
        return self.head(x)


Example = tuple[Callable[[], nn.Module], Callable[[], tuple[torch.Tensor, ...]]]

MODELS: dict[str, Example] = {
    "cnn": (SmallCNN, lambda: (torch.randn(1, 3, 32, 32),)),
    "encoder": (Encoder, lambda: (torch.randn(2, 16, 24),)),
    "mlp": (MLP, lambda: (torch.randn(4, 64),)),
    "rnn": (RNNTagger, lambda: (torch.randint(0, 50, (2, 7)),)),
}


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and BatchNorm statistic distinct and non-zero; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
    return model.eval()


def build(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    factory, make_inputs = MODELS[name]
    torch.manual_seed(0)
    return randomized(factory()), make_inputs()


def export(model: nn.Module, args: tuple[Any, ...], path: Path, dynamo: bool, **options: Any) -> Path:
    """`torch.onnx.export` with inputs named input0, input1, ... and the exporter's chatter hidden."""
    names = [f"input{i}" for i in range(len(args))]
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), dynamo=dynamo, input_names=names, external_data=False, **options)
    return path


def write_example_onnx(path: Path, dynamo: bool = True) -> Path:
    """The small CNN as an ONNX file (about 60 KB), for example_repo.

    Budget entry for it::

        detector:
          onnx: models/detector.onnx
          inputs: {input0: [1, 3, 32, 32]}
    """
    model, args = build("cnn")
    return export(model, args, path, dynamo)
