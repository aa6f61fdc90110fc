"""The project's own PaLI-style model, in PyTorch.

    pixels [B,3,S,S] -> tiny ViT -> image tokens [B,Ni,d]          (Ni = (S/patch)^2)
    prompt ids [B,Nt] -> BART's shared embedding table (scale 1.0) -> text tokens [B,Nt,d]
    concat(image tokens, text tokens) -> BART encoder -> BART decoder -> logits -> loss

The ViT is written out here (patch-embedding conv, learned positions, pre-LN transformer layers, final LN,
linear projection to d_model). The encoder-decoder is Hugging Face's BartForConditionalGeneration built
from a config with eager attention (the fused SDPA backward has no ONNX translation) and no embedding
scale, so that `inputs_embeds` are the embedding table's rows as they are.
"""
import json
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import BartConfig, BartForConditionalGeneration


@dataclass
class ModelConfig:
    image_size: int = 32
    patch_size: int = 8
    vit_width: int = 32
    vit_layers: int = 1
    vit_heads: int = 2
    vit_mlp: int = 64
    d_model: int = 32
    vocab_size: int = 300
    encoder_layers: int = 1
    decoder_layers: int = 1
    heads: int = 2
    ffn_dim: int = 64
    max_positions: int = 64
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    decoder_start_id: int = 1
    init_std: float = 0.02  # std of the random initialisation (ViT and BART)

    @property
    def image_tokens(self):
        return (self.image_size // self.patch_size) ** 2

    def save(self, path):
        with open(path, "w") as f:
            json.dump(asdict(self), f, indent=1)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls(**json.load(f))


# ---- the tiny ViT -----------------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x):  # x [B, N, W]
        B, N, W = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, W // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(W // self.heads)  # [B, h, N, N]
        y = scores.softmax(dim=-1) @ v  # [B, h, N, W/h]
        return self.out(y.transpose(1, 2).reshape(B, N, W))


class Block(nn.Module):
    """Pre-LN transformer layer: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, width, heads, mlp):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, mlp)
        self.fc2 = nn.Linear(mlp, width)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyViT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        W = cfg.vit_width
        self.patch = nn.Conv2d(3, W, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.zeros(1, cfg.image_tokens, W))
        self.blocks = nn.ModuleList([Block(W, cfg.vit_heads, cfg.vit_mlp) for _ in range(cfg.vit_layers)])
        self.ln = nn.LayerNorm(W)
        self.proj = nn.Linear(W, cfg.d_model)
        nn.init.normal_(self.pos, std=cfg.init_std)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.normal_(m.weight, std=cfg.init_std)
                nn.init.zeros_(m.bias)

    def forward(self, pixel_values):  # [B, 3, S, S] -> [B, Ni, d]
        x = self.patch(pixel_values).flatten(2).transpose(1, 2) + self.pos  # [B, Ni, W]
        for block in self.blocks:
            x = block(x)
        return self.proj(self.ln(x))


# ---- the whole model --------------------------------------------------------------------------

def cross_entropy(logits, labels):
    """Mean cross-entropy over the labels != -100, as torch's CrossEntropyLoss computes it, but written with
    plain ops: onnxruntime-web's WebGPU provider has no LogSoftmax kernel (it would run on the CPU, with the
    logits copied off the GPU and back every step); max, exp, sum, log and a gather all run on the GPU.
    The max is detached: the log-sum-exp does not depend on it, so the gradient is exact either way.

    int32 labels (the vjp graph's GPU-input form, vjp.GPU_INPUT_TYPES) pick the target log-probabilities with a
    one-hot product: torch's gather needs int64 indices, and onnxruntime-web runs int64 arithmetic on the CPU."""
    valid = labels != -100
    shifted = logits - logits.amax(dim=-1, keepdim=True).detach()
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
    if labels.dtype == torch.int64:
        picked = log_probs.gather(-1, torch.where(valid, labels, 0).unsqueeze(-1)).squeeze(-1)  # [B, Nd]
    else:
        vocab = torch.arange(logits.shape[-1], dtype=labels.dtype, device=labels.device)
        picked = (log_probs * (labels[..., None] == vocab).to(log_probs.dtype)).sum(-1)
    weight = valid.to(picked.dtype)
    return -(picked * weight).sum() / weight.sum()


def seq2seq_loss(seq2seq, image_embeds, text_embeds, text_mask, decoder_input_ids, labels):
    """Mean token cross-entropy over labels != -100 of a Hugging Face encoder-decoder fed
    `inputs_embeds = concat(image_embeds, text_embeds)` (ENGINE.md §1, the vjp graph's forward). `seq2seq` is a
    BartForConditionalGeneration or a Florence2ForConditionalGeneration: both take these arguments.

    The attention masks are built here as additive 4D masks (0 or the dtype's minimum), which BART's eager
    attention adds to its scores as they are: the same masks Hugging Face would build from a 2D mask, but
    without its mask machinery (index gathers, vmaps), so the exported graph stays small."""
    inputs_embeds = torch.cat([image_embeds, text_embeds], dim=1)
    image_mask = torch.ones_like(image_embeds[:, :, 0], dtype=text_mask.dtype)
    keep = torch.cat([image_mask, text_mask], dim=1)  # [B, Ni+Nt]; image tokens are always attended
    lowest = torch.finfo(inputs_embeds.dtype).min
    encoder_mask = ((1 - keep).to(inputs_embeds.dtype) * lowest)[:, None, None, :]  # [B, 1, 1, Ni+Nt]
    positions = torch.arange(decoder_input_ids.shape[1], device=decoder_input_ids.device)
    future = positions[None, :] > positions[:, None]  # [Nd, Nd], True above the diagonal
    causal_mask = (future.to(inputs_embeds.dtype) * lowest)[None, None]  # [1, 1, Nd, Nd]
    logits = seq2seq(inputs_embeds=inputs_embeds, attention_mask=encoder_mask,
                     decoder_input_ids=decoder_input_ids, decoder_attention_mask=causal_mask,
                     use_cache=False).logits  # [B, Nd, V]
    return cross_entropy(logits, labels)


def seq2seq_loss_hf(seq2seq, image_embeds, text_embeds, text_mask, decoder_input_ids, labels):
    """The same loss the Hugging Face way (2D mask, `labels=` -> the model's own cross-entropy): a cross-check
    of seq2seq_loss, which the exporter compares with it."""
    inputs_embeds = torch.cat([image_embeds, text_embeds], dim=1)
    image_mask = torch.ones_like(image_embeds[:, :, 0], dtype=text_mask.dtype)
    out = seq2seq(inputs_embeds=inputs_embeds, attention_mask=torch.cat([image_mask, text_mask], dim=1),
                  decoder_input_ids=decoder_input_ids, labels=labels, use_cache=False)
    return out.loss


def bart_config(cfg: ModelConfig):
    return BartConfig(
        vocab_size=cfg.vocab_size, d_model=cfg.d_model, max_position_embeddings=cfg.max_positions,
        encoder_layers=cfg.encoder_layers, decoder_layers=cfg.decoder_layers,
        encoder_attention_heads=cfg.heads, decoder_attention_heads=cfg.heads,
        encoder_ffn_dim=cfg.ffn_dim, decoder_ffn_dim=cfg.ffn_dim, activation_function="gelu",
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        encoder_layerdrop=0.0, decoder_layerdrop=0.0,
        init_std=cfg.init_std, scale_embedding=False,
        pad_token_id=cfg.pad_id, bos_token_id=cfg.bos_id, eos_token_id=cfg.eos_id,
        decoder_start_token_id=cfg.decoder_start_id, forced_eos_token_id=None,
        tie_word_embeddings=True,
    )


class PaliModel(nn.Module):
    def __init__(self, cfg: ModelConfig, attn_implementation="eager"):
        """attn_implementation "eager" for export and the reference (the default); "sdpa" only to pretrain
        faster (same weights, same function)."""
        super().__init__()
        self.cfg = cfg
        self.vit = TinyViT(cfg)
        self.bart = BartForConditionalGeneration._from_config(bart_config(cfg), attn_implementation=attn_implementation)

    @property
    def embed_tokens(self):  # [V, d], the shared (tied) embedding table
        return self.bart.get_input_embeddings().weight

    def image_embeds(self, pixel_values):
        return self.vit(pixel_values)

    def text_embeds(self, ids):
        return F.embedding(ids, self.embed_tokens)  # scale 1.0

    def loss_from_embeds(self, image_embeds, text_embeds, text_mask, decoder_input_ids, labels):
        """Mean token cross-entropy over labels != -100 (ENGINE.md §1, the vjp graph's forward)."""
        return seq2seq_loss(self.bart, image_embeds, text_embeds, text_mask, decoder_input_ids, labels)

    def loss_from_embeds_hf(self, image_embeds, text_embeds, text_mask, decoder_input_ids, labels):
        """The same loss the Hugging Face way: a cross-check of the one above (seq2seq_loss_hf)."""
        return seq2seq_loss_hf(self.bart, image_embeds, text_embeds, text_mask, decoder_input_ids, labels)

    def forward(self, pixel_values, input_ids, text_mask, decoder_input_ids, labels):
        return self.loss_from_embeds(self.image_embeds(pixel_values), self.text_embeds(input_ids),
                                     text_mask, decoder_input_ids, labels)


def build_model(cfg: ModelConfig, seed: int, attn_implementation="eager"):
    """Random initialisation from a torch seed (on the CPU, so the same on every machine), frozen, eval mode."""
    torch.manual_seed(seed)
    model = PaliModel(cfg, attn_implementation)
    model.requires_grad_(False)
    return model.eval()


def save_checkpoint(model, folder, float16=False):
    """config.json + model.safetensors (the tied embedding is stored once). float16=True stores every tensor
    as float16, which is exact only for weights already rounded to float16 values (round_to_float16): the
    default model is trained, rounded, and then stored and exported that way."""
    import os

    from safetensors.torch import save_file, save_model
    os.makedirs(folder, exist_ok=True)
    model.cfg.save(os.path.join(folder, "config.json"))
    path = os.path.join(folder, "model.safetensors")
    if not float16:
        save_model(model, path)
        return
    tensors, seen = {}, set()
    for name, t in model.state_dict().items():
        if t.data_ptr() in seen:
            continue  # a tied alias (the shared embedding table)
        seen.add(t.data_ptr())
        h = t.detach().cpu().half()
        if t.is_floating_point():
            assert torch.equal(h.float(), t.detach().cpu().float()), f"{name} is not float16-exact"
            tensors[name] = h.contiguous()
        else:
            tensors[name] = t.detach().cpu().contiguous()
    save_file(tensors, path, metadata={"format": "pt", "float16_exact": "1"})


def round_to_float16(model):
    """Rounds every floating-point parameter and buffer to the nearest float16 value (kept as float32)."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return model


def load_checkpoint(folder, attn_implementation="eager"):
    """The frozen model of a checkpoint folder: a PaliModel, or a FlorenceModel when config.json is a Hugging
    Face Florence-2 config (adalink/florence.py)."""
    import os

    from safetensors.torch import load_file
    with open(os.path.join(folder, "config.json")) as f:
        if json.load(f).get("model_type") == "florence2":
            from .florence import load_florence
            return load_florence(folder)
    cfg = ModelConfig.load(os.path.join(folder, "config.json"))
    model = PaliModel(cfg, attn_implementation)
    tensors = {k: (v.float() if v.is_floating_point() else v)
               for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    tied = {"bart.model.shared.weight", "bart.model.encoder.embed_tokens.weight",
            "bart.model.decoder.embed_tokens.weight", "bart.lm_head.weight"}
    assert not unexpected and set(missing) <= tied and len(set(missing)) < len(tied), (missing, unexpected)
    model.requires_grad_(False)
    return model.eval()
