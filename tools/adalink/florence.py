"""Florence-2 (Hugging Face `Florence2ForConditionalGeneration`) as a model package (docs/ENGINE.md §1, §7).

    pixels [B,3,S,S] -> DaViT vision tower -> projector (learned 2D positions, 1D cosine temporal embedding,
        spatial and temporal pooling, linear projection, LayerNorm)   = get_image_features(...).pooler_output
        -> image tokens [B, Ni, d]           (Ni = 1 + (S/32)^2 for Florence-2's four stages: 577 at S = 768)
    [bos] prompt [eos] -> the language model's token embedding, as its own lookup scales it -> text tokens
    concat(image tokens, text tokens) -> Florence-2's BART encoder -> decoder -> tied lm_head -> logits

That is how Florence2Processor and the model feed the encoder ("<image>" x Ni + "<s>" + prompt + "</s>", the
placeholders' embeddings replaced by the image features), so the package's manifest says `text.add_bos`:
prompt and target ids start with bos, as Florence-2 was trained (labels `<s> … </s>`, decoder input
`</s> <s> …` with decoder_start_id = eos = 2). Generated ids then start with the bos the model emits first;
the caption decodes without special tokens.

The graphs reuse the project's exporter unchanged: vision.onnx (export.export_vision over image_embeds),
vjp.onnx (vjp.py over model.seq2seq_loss, which feeds Florence-2's own forward `inputs_embeds` and 4D
additive masks), the generation graphs (generation.py over Florence-2's BartModel: positions offset 2,
layernorm_embedding, the decoder's embed scale, tied lm_head and no final_logits_bias). FlorenceModel wraps
the Hugging Face model in the interface those modules use (cfg, image_embeds, text_embeds, embed_tokens,
loss_from_embeds, bart). On top of their checks (onnxruntime vs PyTorch), check_processor_path compares
with the Hugging Face model run the way the processor feeds it (input_ids with image placeholders and
pixel_values): the loss with `labels=`, and greedy `generate` token for token.

Two sources of a model:
  - a local folder, what `huggingface-cli download florence-community/Florence-2-base-ft` gives (config.json,
    model.safetensors, preprocessor_config.json, tokenizer files): load_florence;
  - a small random config of the same architecture (tiny_florence) for tests: tools/make_tiny_florence_package.py.
"""
import json
import os
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import round_to_float16, seq2seq_loss

ARCHITECTURE = "florence2-bart"
# Florence-2's processor (CLIPImageProcessor) defaults, used when a folder has no preprocessor_config.json.
DEFAULT_IMAGE_SIZE = 768
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# The tiny test model: Florence-2's architecture at the smallest size its code allows for 32x32 images.
# DaViT with two stages instead of four (strides 4 and 2: 32 -> 8 -> 4, so 16 + 1 = 17 image tokens), one
# block per stage, 2 and 4 heads/groups, windows of 4, MLP ratio 2; BART with d_model 32, 1 + 1 layers,
# 2 heads, FFN 64, 64 positions; BART's special ids (<s> 0, <pad> 1, </s> 2, <unk> 3; decoder start 2).
TINY_VISION = dict(depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1],
                   patch_prenorm=[False, True], embed_dim=[16, 32], num_heads=[2, 4], num_groups=[2, 4],
                   window_size=4, mlp_ratio=2.0, drop_path_rate=0.0, projection_dim=32,
                   max_position_embeddings=8, max_temporal_embeddings=1)
TINY_TEXT = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                 encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, activation_function="gelu",
                 scale_embedding=False)
TINY_IMAGE_SIZE = 32
BART_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<image>"]  # ids 0..4; <image>: the image placeholder


@dataclass
class FlorenceSpec:
    """What the package code (export.py, vjp.py, generation.py) reads of a model's config."""
    image_size: int
    image_tokens: int
    d_model: int
    vocab_size: int
    decoder_layers: int
    heads: int
    pad_id: int
    bos_id: int
    eos_id: int
    decoder_start_id: int
    max_positions: int


def image_token_count(vision_config, image_size):
    """1 (the temporal-pooled token) + the last stage's H x W (spatial tokens): each stage's patch conv maps
    a side n to floor((n + 2 padding - kernel) / stride) + 1."""
    side = image_size
    for k, s, p in zip(vision_config.patch_size, vision_config.patch_stride, vision_config.patch_padding):
        side = (side + 2 * p - k) // s + 1
    return 1 + side * side


class FlorenceModel(nn.Module):
    """A frozen Florence2ForConditionalGeneration (eager attention, float32, eval) with the interface of
    model.PaliModel. `bart` is the whole Hugging Face model (the name the shared code uses: its language
    model is a BART; generation.bart_of finds it)."""

    def __init__(self, hf, image_size):
        super().__init__()
        self.bart = hf
        text = hf.config.text_config
        self.cfg = FlorenceSpec(
            image_size=image_size, image_tokens=image_token_count(hf.config.vision_config, image_size),
            d_model=text.d_model, vocab_size=hf.get_input_embeddings().num_embeddings,
            decoder_layers=text.decoder_layers, heads=text.decoder_attention_heads, pad_id=text.pad_token_id,
            bos_id=text.bos_token_id, eos_id=text.eos_token_id, decoder_start_id=text.decoder_start_token_id,
            max_positions=text.max_position_embeddings)

    @property
    def embed_tokens(self):
        """[V, d]: the rows the model's own embedding lookup produces (its embed_scale applied; Florence-2's
        is 1.0), i.e. text_embeddings.safetensors."""
        table = self.bart.get_input_embeddings()
        return table(torch.arange(table.num_embeddings, device=table.weight.device))

    def image_embeds(self, pixel_values):
        return self.bart.get_image_features(pixel_values=pixel_values).pooler_output

    def text_embeds(self, ids):
        return self.bart.get_input_embeddings()(ids)

    def loss_from_embeds(self, image_embeds, text_embeds, text_mask, decoder_input_ids, labels):
        return seq2seq_loss(self.bart, image_embeds, text_embeds, text_mask, decoder_input_ids, labels)

    def loss_from_embeds_hf(self, image_embeds, text_embeds, text_mask, decoder_input_ids, labels):
        """The cross-check of loss_from_embeds (vjp.verify, float64): Hugging Face's forward with the 2D mask,
        then torch's cross-entropy in the model's dtype. Not Florence-2's own `labels=` loss, which upcasts the
        logits to float32 (5e-8 apart in float64); check_processor_path compares with that one in float32."""
        inputs_embeds = torch.cat([image_embeds, text_embeds], dim=1)
        keep = torch.cat([torch.ones_like(image_embeds[:, :, 0], dtype=text_mask.dtype), text_mask], dim=1)
        logits = self.bart(inputs_embeds=inputs_embeds, attention_mask=keep, decoder_input_ids=decoder_input_ids,
                           use_cache=False).logits
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def frozen(hf, image_size):
    hf.requires_grad_(False)
    return FlorenceModel(hf.float().eval(), image_size)


# ---- a small random Florence-2 ------------------------------------------------------------------

def tiny_config(vocab_size, image_token_id, vision=TINY_VISION, text=TINY_TEXT, init_std=0.2):
    from transformers import Florence2Config
    text = dict(text, vocab_size=vocab_size, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                forced_bos_token_id=None, forced_eos_token_id=None, dropout=0.0, attention_dropout=0.0,
                activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0, init_std=init_std)
    return Florence2Config(vision_config=dict(vision), text_config=text, image_token_id=image_token_id,
                           initializer_range=init_std)


def randomize(hf, std, seed):
    """Random weights from a torch seed (on the CPU, the same on every machine): every Linear, Conv2d and
    Embedding weight normal(0, std) (the padding row of the token table 0, as Hugging Face initialises it),
    biases 0, LayerNorms 1 and 0. std 0.2 rather than 0.02: with 0.02 the logits are nearly uniform, greedy
    decoding is decided by near-ties and AdaLink barely moves the loss (tools/README.md)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in hf.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.Embedding)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * std)
                if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                    module.weight[module.padding_idx] = 0
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
    return hf


def tiny_florence(vocab_size, image_token_id, seed=0, init_std=0.2, image_size=TINY_IMAGE_SIZE, text=TINY_TEXT,
                  vision=TINY_VISION):
    """A random Florence-2 of the tiny config, weights rounded to float16 values (so checkpoint and ONNX
    files can store them as float16 exactly; every graph still computes in float32)."""
    from transformers import Florence2ForConditionalGeneration
    torch.manual_seed(seed)
    config = tiny_config(vocab_size, image_token_id, vision=vision, text=text, init_std=init_std)
    hf = Florence2ForConditionalGeneration._from_config(config, attn_implementation="eager")
    round_to_float16(randomize(hf, init_std, seed))
    return frozen(hf, image_size)


def save_florence(model, folder, image_mean, image_std, tokenizer_path=None):
    """A Hugging Face folder like a downloaded checkpoint: config.json, generation_config.json,
    model.safetensors (float16: the weights are float16 values), preprocessor_config.json, tokenizer.json.
    Reloads it and checks every tensor is what was saved."""
    import shutil
    hf = model.bart
    hf.to(torch.float16).save_pretrained(folder)
    hf.to(torch.float32)
    size = model.cfg.image_size
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "CLIPImageProcessor", "processor_class": "Florence2Processor",
                   "do_resize": True, "size": {"height": size, "width": size}, "resample": 3, "do_center_crop": False,
                   "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": image_mean,
                   "image_std": image_std, "image_seq_length": model.cfg.image_tokens}, f, indent=1)
        f.write("\n")
    if tokenizer_path:
        shutil.copyfile(tokenizer_path, os.path.join(folder, "tokenizer.json"))
    reloaded = load_florence(folder).bart.state_dict()
    for name, t in hf.state_dict().items():
        assert torch.equal(reloaded[name], t), f"{name} differs after reloading {folder}"


# ---- a checkpoint folder ------------------------------------------------------------------------

def image_settings(folder):
    """(size, mean, std) from the folder's preprocessor_config.json, else Florence-2's defaults (768, ImageNet)."""
    path = os.path.join(folder, "preprocessor_config.json")
    if not os.path.exists(path):
        print(f"  no preprocessor_config.json: image {DEFAULT_IMAGE_SIZE}, ImageNet mean/std (Florence-2's defaults)")
        return DEFAULT_IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD
    with open(path) as f:
        p = json.load(f)
    size = p.get("size") or p.get("crop_size") or {}
    height, width = size.get("height", DEFAULT_IMAGE_SIZE), size.get("width", DEFAULT_IMAGE_SIZE)
    if height != width:
        raise SystemExit(f"{path}: image size {height}x{width} is not square (the package format wants S x S)")
    return int(height), list(p.get("image_mean", IMAGENET_MEAN)), list(p.get("image_std", IMAGENET_STD))


def load_florence(folder):
    """A Florence2ForConditionalGeneration from a local folder (eager attention, float32, frozen)."""
    from transformers import Florence2ForConditionalGeneration
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    if "auto_map" in config or "vision_config" not in config:
        raise SystemExit(f"{folder} holds Florence-2 in its original remote-code form (auto_map / no vision_config): "
                         "use the Transformers-format copy, florence-community/Florence-2-base-ft (tools/README.md)")
    hf = Florence2ForConditionalGeneration.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    return frozen(hf, image_settings(folder)[0])


def tokenizer_file(folder, out_path):
    """Writes the checkpoint's tokenizer as one tokenizer.json: the folder's own, or the fast tokenizer that
    Transformers builds from vocab.json + merges.txt."""
    import shutil
    src = os.path.join(folder, "tokenizer.json")
    if os.path.exists(src):
        shutil.copyfile(src, out_path)
        return
    from transformers import AutoTokenizer
    AutoTokenizer.from_pretrained(folder).backend_tokenizer.save(out_path)


def task_prompt(folder, task):
    """The text Florence2Processor puts in place of a task token, e.g. "<CAPTION>" -> "What does the image
    describe?": the engine encodes the prompt text with the tokenizer, which has no task tokens."""
    from transformers import AutoProcessor
    try:
        processor = AutoProcessor.from_pretrained(folder)
    except Exception as e:  # noqa: BLE001 - any reason: the user can give the prompt text instead
        raise SystemExit(f"cannot build Florence-2's processor from {folder} ({e}): give the prompt text with --prompt")
    prompt = processor._construct_prompts([task])[0]
    if prompt == task:
        print(f"  note: {task} is not one of the processor's tasks: the prompt is that text as it is")
    return prompt


# ---- checks against the processor's path -------------------------------------------------------

def check_processor_path(model, tokenizer_path, prompts, max_new, image_token_id, samples=3, seed=11):
    """Florence-2 run the way Florence2Processor feeds it — input_ids = [<image>] x Ni + [bos] + prompt + [eos],
    pixel_values — against the package's path (image_embeds, the embedding table, concat, add_bos ids):
    the loss with `labels=` (Hugging Face's cross-entropy) vs seq2seq_loss, and greedy `generate` vs
    generation.greedy_torch, token for token. Random pixels in [-1, 1]. Returns the errors; raises on a
    mismatch."""
    from tokenizers import Tokenizer

    from .generation import greedy_torch
    from .tokenizer import encode_ids
    cfg = model.cfg
    if image_token_id >= cfg.vocab_size:
        print(f"  processor path: skipped (image token id {image_token_id} has no embedding row)")
        return {"skipped": True}
    tok = Tokenizer.from_file(tokenizer_path)
    g = torch.Generator().manual_seed(seed)
    worst_loss, agree = 0.0, 0
    for i in range(samples):
        pixels = torch.rand(1, 3, cfg.image_size, cfg.image_size, generator=g) * 2 - 1
        prompt = encode_ids(tok, prompts[i % len(prompts)], cfg.eos_id, 10 ** 6, cfg.bos_id)
        input_ids = torch.tensor([[image_token_id] * cfg.image_tokens + prompt])
        labels = torch.tensor([encode_ids(tok, "a red circle on the left", cfg.eos_id, 10 ** 6, cfg.bos_id)])
        decoder_input_ids = torch.cat([torch.tensor([[cfg.decoder_start_id]]), labels[:, :-1]], dim=1)
        with torch.no_grad():
            hf_loss = model.bart(input_ids=input_ids, pixel_values=pixels, labels=labels).loss
            image, text = model.image_embeds(pixels), model.text_embeds(torch.tensor([prompt]))
            mask = torch.ones(1, len(prompt), dtype=torch.long)
            ours = model.loss_from_embeds(image, text, mask, decoder_input_ids, labels)
            hf_ids = model.bart.generate(input_ids=input_ids, pixel_values=pixels, max_new_tokens=max_new,
                                         do_sample=False, num_beams=1, no_repeat_ngram_size=0, forced_bos_token_id=None,
                                         forced_eos_token_id=None, min_length=0, repetition_penalty=1.0)
        hf_ids = hf_ids[0, 1:].tolist()  # without the decoder start
        hf_ids = hf_ids[:hf_ids.index(cfg.eos_id) + 1] if cfg.eos_id in hf_ids else hf_ids
        our_ids, _ = greedy_torch(model, image, text, mask, max_new, cfg.decoder_start_id, cfg.eos_id, cfg.pad_id)
        worst_loss = max(worst_loss, abs(float(hf_loss) - float(ours)))
        agree += our_ids[0] == hf_ids
        print(f"  processor path {i}: loss HF {float(hf_loss):.6f} vs ours {float(ours):.6f}; "
              f"greedy HF generate == ours: {our_ids[0] == hf_ids} ({len(hf_ids)} ids)")
    if worst_loss > 1e-5 or agree != samples:
        raise AssertionError(f"the package's path differs from Florence-2's processor path: loss {worst_loss}, "
                             f"greedy {agree}/{samples}")
    return {"loss": worst_loss, "greedy_agree": agree}


# ---- the package --------------------------------------------------------------------------------

def export_package(model, out, tokenizer_path, model_id, name, image_mean, image_std, default_prompt,
                   max_prompt_tokens, max_target_tokens, image_token_id, license="MIT", float16_weights=None,
                   strict=True):
    """Writes and checks the package (export.write_package with Florence-2's manifest fields), then the
    processor-path check. float16_weights None: store the ONNX weights as float16 when every weight is a
    float16 value (Florence-2's published weights are float16)."""
    from . import export
    cfg = model.cfg
    if cfg.image_tokens + max_prompt_tokens > cfg.max_positions or max_target_tokens > cfg.max_positions:
        raise SystemExit(f"{cfg.image_tokens} image tokens + {max_prompt_tokens} prompt tokens, or {max_target_tokens} "
                         f"target tokens, exceed the {cfg.max_positions} positions of the language model")
    if float16_weights is None:
        float16_weights = all(torch.equal(t, t.half().float()) for t in model.bart.state_dict().values()
                              if t.is_floating_point())
    print(f"[florence] {model_id}: image {cfg.image_size} -> {cfg.image_tokens} tokens, d_model {cfg.d_model}, "
          f"vocab {cfg.vocab_size}, weights stored as {'float16' if float16_weights else 'float32'}")
    errors = export.write_package(model, out, tokenizer_path, model_id, name, max_prompt_tokens, max_target_tokens,
                                  default_prompt, float16_weights=float16_weights, license=license, strict=strict,
                                  strip_metadata=True, architecture=ARCHITECTURE, image_mean=image_mean,
                                  image_std=image_std, add_bos=True, resample="bicubic")
    print("[florence] the processor's path (input_ids with image placeholders + pixel_values) vs the package's")
    errors["processor_path"] = check_processor_path(model, os.path.join(out, "tokenizer.json"), [default_prompt],
                                                    max_target_tokens, image_token_id)
    return errors


def export_folder(folder, out, model_id, name, task="<CAPTION>", prompt=None, max_prompt_tokens=32,
                  max_target_tokens=64, license="MIT", float16_weights=None, strict=True):
    """A downloaded Florence-2 folder -> a package. The default prompt: `prompt`, else the processor's text
    for `task`."""
    model = load_florence(folder)
    size, mean, std = image_settings(folder)
    os.makedirs(out, exist_ok=True)
    tokenizer_path = os.path.join(out, "tokenizer.json")
    tokenizer_file(folder, tokenizer_path)
    if prompt is None:
        prompt = task_prompt(folder, task)
        print(f"[florence] default prompt: {task} -> {prompt!r}")
    return export_package(model, out, tokenizer_path, model_id, name, mean, std, prompt, max_prompt_tokens,
                          max_target_tokens, model.bart.config.image_token_id, license, float16_weights, strict)


def main():
    import argparse
    p = argparse.ArgumentParser(description="Exports a local Florence-2 folder (Transformers format) as a package.")
    p.add_argument("--model", required=True, help="folder of the checkpoint (huggingface-cli download …)")
    p.add_argument("--out", required=True, help="package folder to write (e.g. public/models/florence-2-base-ft)")
    p.add_argument("--id", default=None, help="package id (default: the --out folder's name)")
    p.add_argument("--name", default=None)
    p.add_argument("--task", default="<CAPTION>", help="Florence-2 task whose prompt text is the default prompt")
    p.add_argument("--prompt", default=None, help="default prompt text (instead of --task)")
    p.add_argument("--max-prompt-tokens", type=int, default=32)
    p.add_argument("--max-target-tokens", type=int, default=64)
    p.add_argument("--license", default="MIT")
    p.add_argument("--float32-weights", action="store_true",
                   help="store float32 even if the weights are float16 values")
    p.add_argument("--no-strict", action="store_true", help="print failed checks as warnings instead of stopping")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_id = args.id or os.path.basename(os.path.normpath(args.out))
    name = args.name or f"Florence-2 ({os.path.basename(os.path.normpath(args.model))}), DaViT + BART"
    errors = export_folder(args.model, args.out, model_id, name, args.task, args.prompt, args.max_prompt_tokens,
                           args.max_target_tokens, args.license, False if args.float32_weights else None,
                           not args.no_strict)
    print("EXPORT_ERRORS " + json.dumps(errors))


if __name__ == "__main__":
    main()
