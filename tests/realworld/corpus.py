"""Real models that nobody on this project wrote, each with an independent reference.

Every case builds a model from a package (random init, no download) and says
where its reference figures come from: torchvision's published `_ops` and
`num_params`, Ultralytics' own FLOPs, PyTorch's `FlopCounterMode` on a real
run, or a layer-by-layer formula. The tests (test_corpus.py) and the
benchmark (benchmarks/corpus.py) read this one list.

A case whose package is missing is skipped with the package's name.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Inputs = tuple[tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class Reference:
    macs: float
    params: int
    source: str
    tolerance: float = 0.005  # relative, on MACs; params are always exact


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    package: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], Inputs]
    reference: Callable[[], Reference]

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"

    def available(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


def real_params(model: nn.Module) -> int:
    """`.parameters()` yields a tied weight once."""
    return sum(p.numel() for p in model.parameters())


def flop_counter_macs(model: nn.Module, inputs: Inputs) -> int:
    """PyTorch's own FlopCounterMode on a real CPU run, in MACs (its flops / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    args, kwargs = inputs
    model.requires_grad_(False)  # its module tracker needs a grad_fn for trainable leaves
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(*args, **kwargs)
    return counter.get_total_flops() // 2


def seeded(make: Callable[[], Any]) -> Any:
    torch.manual_seed(0)
    return make()


# --- torchvision: the published figures of each model's default weights -------------


def _torchvision_cases() -> list[Case]:
    if importlib.util.find_spec("torchvision") is None:
        return [Case("torchvision", "(all)", "torchvision", nn.Identity, lambda: ((), {}), lambda: Reference(0, 0, ""))]
    import torchvision

    cases = []
    for family, module in (
        ("torchvision", torchvision.models),
        ("torchvision-segmentation", torchvision.models.segmentation),
        ("torchvision-video", torchvision.models.video),
    ):
        for name in torchvision.models.list_models(module=module):
            cases.append(_published(family, name))
    return cases


# The published figures are for the architecture of the default weights.
_NO_BACKBONE = {"weights_backbone": None}  # segmentation models would download their backbone's weights
_TV_KWARGS: dict[str, dict[str, Any]] = {
    # torchvision drops GoogLeNet's auxiliary heads from the weights, and keeps
    # Inception v3's (in num_params; eval mode never runs them).
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": True, "init_weights": False},
    "vit_h_14": {"image_size": 518},
    "lraspp_mobilenet_v3_large": _NO_BACKBONE,
    "fcn_resnet50": {"aux_loss": True, **_NO_BACKBONE},
    "fcn_resnet101": {"aux_loss": True, **_NO_BACKBONE},
    "deeplabv3_resnet50": {"aux_loss": True, **_NO_BACKBONE},
    "deeplabv3_resnet101": {"aux_loss": True, **_NO_BACKBONE},
    "deeplabv3_mobilenet_v3_large": {"aux_loss": True, **_NO_BACKBONE},
}



def _published(family: str, name: str) -> Case:
    """The input of the default weights' preset: a crop (classification, 16-frame
    video clips), or a 520 px image (segmentation, whose preset only resizes)."""
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    size = weights.transforms.keywords.get("crop_size", 520)
    shape = (1, 3, *([16] if family.endswith("video") else []), *((size, size) if isinstance(size, int) else size))

    def reference() -> Reference:
        ops = weights.meta["_ops"]  # GMACs (torchvision calls them GFLOPS), 3 decimals
        # The figure is rounded to 0.001 G: half of that is within the reference's precision.
        tolerance = max(0.005, 0.0005 / ops)
        return Reference(ops * 1e9, weights.meta["num_params"], f"published _ops of {weights}", tolerance)

    return Case(
        family,
        name,
        "torchvision",
        lambda: torchvision.models.get_model(name, weights=None, **_TV_KWARGS.get(name, {})),
        lambda: ((torch.randn(*shape),), {}),
        reference,
    )


# --- Ultralytics YOLO11: its own FLOPs figure (the fused model, as `model.info()` prints) --


def _yolo(size: str) -> Case:
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no settings sync, no downloads

    def build() -> nn.Module:
        from ultralytics.nn.tasks import DetectionModel

        return DetectionModel(f"yolo11{size}.yaml", verbose=False)

    def reference() -> Reference:
        from ultralytics.utils.torch_utils import get_flops

        model = seeded(build)
        params = real_params(model)
        # `model.info()` reports the model with BatchNorm folded into the convs:
        # the convs' MACs (thop) x 2. Unfused, thop adds BatchNorm, which we keep
        # in flops_other.
        gflops = get_flops(model.fuse(verbose=False), 640)
        return Reference(gflops * 1e9 / 2, params, "ultralytics get_flops (fused), thop", 0.01)

    return Case("ultralytics", f"yolo11{size}", "ultralytics", build, lambda: ((torch.zeros(1, 3, 640, 640),), {}), reference)


CASES: list[Case] = [*_torchvision_cases(), _yolo("n"), _yolo("s")]


# --- timm: FlopCounterMode on a real run, with timm's fused attention off --------------

TIMM_MODELS = ["convnext_atto", "efficientnet_b0", "vit_tiny_patch16_224", "deit_tiny_patch16_224", "beit_base_patch16_224", "eva02_tiny_patch14_224", "swin_tiny_patch4_window7_224", "swinv2_tiny_window8_256", "regnety_002", "resnet18d", "mobilenetv3_small_100", "mobilenetv4_conv_small", "levit_128s", "coatnet_nano_rw_224", "maxvit_nano_rw_256", "convmixer_768_32", "mixer_s16_224", "poolformer_s12", "nfnet_l0", "rexnet_100", "ghostnet_100", "fastvit_t8", "efficientvit_b0", "mobilevit_xxs", "edgenext_xx_small", "tiny_vit_5m_224", "pvt_v2_b0", "cait_xxs24_224", "xcit_nano_12_p16_224", "repvgg_a0", "hrnet_w18_small"]


def _timm(name: str) -> Case:
    def build(fused: bool = True) -> nn.Module:
        import timm
        from timm.layers import set_fused_attn

        set_fused_attn(fused)  # read by attention layers when they are built
        try:
            return timm.create_model(name, pretrained=False)
        finally:
            set_fused_attn(True)

    def inputs() -> Inputs:
        import timm

        size = timm.get_pretrained_cfg(name).input_size
        return (seeded(lambda: torch.randn(1, *size)),), {}

    def reference() -> Reference:
        # CPU attention (F.scaled_dot_product_attention) is invisible to FlopCounterMode;
        # with timm's fused attention off the same attention runs as two matmuls it sees.
        model = seeded(lambda: build(fused=False))
        return Reference(flop_counter_macs(model, inputs()), real_params(model), "FlopCounterMode, real run, unfused attention")

    return Case("timm", name, "timm", build, inputs, reference)


CASES += [_timm(name) for name in TIMM_MODELS]


# --- Hugging Face transformers, built from configs ---------------------------------------

TOKENS = 32


def _hf(name: str, make_config: Callable[[], Any], auto: str, inputs: Callable[[], Inputs], reference: str = "") -> Case:
    """`reference`: "" for FlopCounterMode on a real run with eager attention, else a
    function name in this module computing the MACs by formula from the config."""

    def build(attn: str | None = None) -> nn.Module:  # None: the model's default (SDPA where it has it)
        import transformers

        extra = {"attn_implementation": attn} if attn else {}
        return getattr(transformers, auto).from_config(make_config(), **extra)

    def ref() -> Reference:
        model = seeded(lambda: build("eager"))
        params = real_params(model)
        if reference:
            return Reference(globals()[reference](make_config(), inputs()), params, f"layer-by-layer formula ({reference})")
        # eager attention is explicit matmuls, which FlopCounterMode sees (CPU SDPA it does not)
        return Reference(flop_counter_macs(model, inputs()), params, "FlopCounterMode, real run, eager attention")

    return Case("transformers", name, "transformers", build, inputs, ref)


def _ids(tokens: int = TOKENS, **extra: Any) -> Callable[[], Inputs]:
    def make() -> Inputs:
        ids = seeded(lambda: torch.randint(0, 1000, (1, tokens)))
        return (), {"input_ids": ids, "use_cache": False, **extra}

    return make


def moe_decoder_macs(cfg: Any, inputs: Inputs) -> int:
    """Mixtral / Qwen2-MoE: per layer, attention projections + attention + router +
    top-k experts (+ Qwen2-MoE's shared expert and its gate); then the LM head."""
    t = inputs[1]["input_ids"].shape[1]
    h, heads, kv = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = h // heads
    projections = t * h * (2 * heads * head_dim + 2 * kv * head_dim)  # q, o; k, v
    attention = 2 * heads * t * t * head_dim  # QK^T and AV, full (no causal discount)
    experts = getattr(cfg, "num_local_experts", None) or cfg.num_experts
    router = t * h * experts
    inter = getattr(cfg, "moe_intermediate_size", None) or cfg.intermediate_size
    routed = t * cfg.num_experts_per_tok * 3 * h * inter  # gate, up, down of each chosen expert
    shared = t * (3 * h * cfg.shared_expert_intermediate_size + h) if hasattr(cfg, "shared_expert_intermediate_size") else 0
    layer = projections + attention + router + routed + shared
    return int(cfg.num_hidden_layers * layer + t * h * cfg.vocab_size)


def _transformers_cases() -> list[Case]:
    if importlib.util.find_spec("transformers") is None:
        return [_hf("(all)", lambda: None, "AutoModel", _ids())]
    import transformers as tf

    small = {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
    heads = {"num_attention_heads": 4, "num_key_value_heads": 2}
    image = lambda size=224: lambda: ((), {"pixel_values": seeded(lambda: torch.randn(1, 3, size, size))})  # noqa: E731
    return [
        _hf("llama", lambda: tf.LlamaConfig(**small, **heads), "AutoModelForCausalLM", _ids()),
        _hf("mistral", lambda: tf.MistralConfig(**small, **heads), "AutoModelForCausalLM", _ids()),
        _hf("qwen2", lambda: tf.Qwen2Config(**small, **heads), "AutoModelForCausalLM", _ids()),
        _hf(
            "mixtral",
            lambda: tf.MixtralConfig(**small, **heads, num_local_experts=4, num_experts_per_tok=2),
            "AutoModelForCausalLM",
            _ids(),
            "moe_decoder_macs",
        ),
        _hf(
            "qwen2-moe",
            lambda: tf.Qwen2MoeConfig(
                **small, **heads, moe_intermediate_size=32, shared_expert_intermediate_size=64, num_experts=8, num_experts_per_tok=2
            ),
            "AutoModelForCausalLM",
            _ids(),
            "moe_decoder_macs",
        ),
        _hf("gpt2", lambda: tf.GPT2Config(vocab_size=1000, n_embd=64, n_layer=2, n_head=4, n_positions=128), "AutoModelForCausalLM", _ids()),
        _hf(
            "bert",
            lambda: tf.BertConfig(**small, num_attention_heads=4),
            "AutoModel",
            _ids(attention_mask=torch.ones(1, TOKENS, dtype=torch.long)),
        ),
        _hf(
            "t5",
            lambda: tf.T5Config(vocab_size=1000, d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4),
            "AutoModelForSeq2SeqLM",
            _ids(decoder_input_ids=torch.zeros(1, 8, dtype=torch.long)),
        ),
        _hf(
            "whisper",
            lambda: tf.WhisperConfig(
                vocab_size=1000, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_source_positions=1500,
                pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
            ),
            "AutoModelForSpeechSeq2Seq",
            lambda: ((), {"input_features": seeded(lambda: torch.randn(1, 80, 3000)), "decoder_input_ids": torch.zeros(1, 8, dtype=torch.long), "use_cache": False}),
        ),
        _hf("vit", lambda: tf.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128), "AutoModel", image()),
        _hf(
            "clip",
            lambda: tf.CLIPConfig(
                text_config={"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4},
                vision_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 224, "patch_size": 32},
                projection_dim=32,
            ),
            "AutoModel",
            lambda: ((), {"input_ids": seeded(lambda: torch.randint(0, 1000, (1, 16))), "pixel_values": seeded(lambda: torch.randn(1, 3, 224, 224))}),
        ),
        _hf("mamba", lambda: tf.MambaConfig(vocab_size=1000, hidden_size=64, state_size=8, num_hidden_layers=2), "AutoModelForCausalLM", _ids()),
    ]


CASES += _transformers_cases()


# --- diffusers: a small UNet2DConditionModel -------------------------------------------


def _unet() -> Case:
    config = {
        "sample_size": 32,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": (32, 64),
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        "cross_attention_dim": 32,
        "layers_per_block": 1,
        "attention_head_dim": 8,
        "norm_num_groups": 8,
    }

    def build() -> nn.Module:
        from diffusers import UNet2DConditionModel

        return UNet2DConditionModel(**config)

    def inputs() -> Inputs:
        sample, text = seeded(lambda: (torch.randn(1, 4, 32, 32), torch.randn(1, 8, 32)))
        return (sample, torch.tensor(10), text), {}

    def reference() -> Reference:
        from diffusers.models.attention_processor import AttnProcessor

        model = seeded(build)
        model.set_attn_processor(AttnProcessor())  # explicit baddbmm/bmm attention, which FlopCounterMode sees
        return Reference(flop_counter_macs(model, inputs()), real_params(model), "FlopCounterMode, real run, AttnProcessor")

    return Case("diffusers", "unet2d-condition-small", "diffusers", build, inputs, reference)


CASES.append(_unet())
