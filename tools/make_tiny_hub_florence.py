"""The tiny Florence-2 test model in the layout transformers.js publishes on the Hugging Face Hub
(onnx-community/Florence-2-base-ft): forward graphs only, which the studio differentiates itself (src/autodiff/).

    <out>/config.json, generation_config.json, preprocessor_config.json   the checkpoint's own
    <out>/tokenizer.json, tokenizer_config.json
    <out>/onnx/vision_encoder.onnx  pixel_values f32 [B,3,S,S]                     -> image_features f32 [B,Ni,d]
    <out>/onnx/embed_tokens.onnx    input_ids i64 [B,T]                             -> inputs_embeds f32 [B,T,d]
    <out>/onnx/encoder_model.onnx   inputs_embeds f32 [B,S,d], attention_mask i64   -> last_hidden_state f32 [B,S,d]
    <out>/onnx/decoder_model.onnx   encoder_attention_mask i64 [B,S], encoder_hidden_states f32 [B,S,d],
                                    inputs_embeds f32 [B,T,d]                       -> logits f32 [B,T,V],
                                    present.{i}.{decoder,encoder}.{key,value} f32 [B,H,*,dh]

Names and roles are transformers.js's (its Florence2ForConditionalGeneration runs vision_encoder, embed_tokens,
then encoder_model and the decoder on inputs_embeds). Made on this machine, with no GPU machine and no
Transformers: Debian's python3-torch (1.13, the TorchScript exporter, as Optimum used in 2024) and python3-onnx.

    /usr/bin/python3 tools/make_tiny_hub_florence.py                 # from the repository root; ~20 s

How it is made, and how that may differ from the published files:
  - encoder_model / decoder_model / embed_tokens: Florence-2's language model (BART: learned positions offset 2,
    layernorm_embedding, post-LN layers, exact GELU, tied lm_head, no final_logits_bias) written out in plain
    torch over the checkpoint's weights (tools/checkpoints/tiny-florence-test) the way Transformers 4.41's BART
    wrote it (which Florence-2's remote code copied: _expand_mask, _make_causal_mask, bmm attention with q scaled
    first), exported by torch.onnx (TorchScript) at opset 14 with Optimum's names and dynamic axes. Optimum exported Microsoft's remote-code BART, so
    node names, constant folding and small op patterns may differ; the op types are the same family.
    src/autodiff's tests check these graphs against the package exported from Transformers on the GPU machine
    (public/models/tiny-florence-test: encoder.onnx, decoder_init.onnx, vjp.onnx).
  - vision_encoder: that package's vision.onnx (Transformers' get_image_features, exported on the GPU machine)
    with its output renamed image_embeds -> image_features. Not re-exported: DaViT is not written out here.
  - no decoder_with_past / decoder_model_merged: the studio specialises a merged decoder to its no-cache branch;
    that path is tested on graphs built in the tests.

Also writes:
  --reference  PyTorch autograd's loss and d loss / d(image, text embeds) for one batch in float64 (the vjp
               contract, docs/ENGINE.md §1), over the same plain-torch model
  --ops        the op types of encoder_model and decoder_model for Florence-2 base and large sizes at opsets 14
               and 17 (weights left out of the export: the op types do not depend on them)
"""
import argparse
import json
import math
import os
import shutil
import struct

import numpy as np
import onnx
import torch
import torch.nn.functional as F

LM = "model.language_model."


def read_safetensors(path):
    """{name: float32 tensor} of a safetensors file (F16/F32/BF16)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = body[a:b]
        if info["dtype"] == "F16":
            array = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
        elif info["dtype"] == "F32":
            array = np.frombuffer(raw, dtype=np.float32).copy()
        elif info["dtype"] == "BF16":
            array = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: {name} has dtype {info['dtype']}")
        out[name] = torch.from_numpy(array.reshape(info["shape"]))
    return out


class Bart(torch.nn.Module):
    """Florence-2's BART language model over a {name: tensor} of the checkpoint (LM prefix), as Transformers'
    BartModel computes it in eval mode with eager attention."""

    def __init__(self, weights, text_config, dtype=torch.float32):
        super().__init__()
        self.w = {k[len(LM):]: v.to(dtype) for k, v in weights.items() if k.startswith(LM)}
        self.heads_enc = text_config["encoder_attention_heads"]
        self.heads_dec = text_config["decoder_attention_heads"]
        self.enc_layers = text_config["encoder_layers"]
        self.dec_layers = text_config["decoder_layers"]
        self.scale = math.sqrt(text_config["d_model"]) if text_config.get("scale_embedding") else 1.0
        for name, value in self.w.items():  # registered, so that torch.onnx exports them as initializers
            self.register_buffer(name.replace(".", "__"), value, persistent=False)

    def p(self, name):
        return getattr(self, name.replace(".", "__"))

    def linear(self, prefix, x):
        return F.linear(x, self.p(prefix + ".weight"), self.p(prefix + ".bias"))

    def norm(self, prefix, x):
        weight = self.p(prefix + ".weight")
        return F.layer_norm(x, tuple(weight.shape), weight, self.p(prefix + ".bias"), 1e-5)

    def attention(self, prefix, heads, x, kv, mask):
        """BartAttention (eager) as Transformers 4.41 wrote it, which Florence-2's remote code copied: q scaled
        before the product, heads folded into the batch for bmm."""
        B, T, d = x.shape
        S = kv.shape[1]
        dh = d // heads
        split = lambda t, n: t.view(B, n, heads, dh).transpose(1, 2).contiguous()  # noqa: E731
        q = split(self.linear(prefix + ".q_proj", x) * dh ** -0.5, T).view(B * heads, T, dh)
        k = split(self.linear(prefix + ".k_proj", kv), S)
        v = split(self.linear(prefix + ".v_proj", kv), S)
        scores = torch.bmm(q, k.view(B * heads, S, dh).transpose(1, 2))
        scores = (scores.view(B, heads, T, S) + mask).view(B * heads, T, S)
        out = torch.bmm(torch.softmax(scores, dim=-1), v.view(B * heads, S, dh))
        out = out.view(B, heads, T, dh).transpose(1, 2).reshape(B, T, d)
        return self.linear(prefix + ".out_proj", out), k, v

    def positions(self, prefix, x):
        T = x.shape[1]
        return F.embedding(torch.arange(T, device=x.device) + 2, self.p(prefix + ".embed_positions.weight"))

    def encode(self, inputs_embeds, attention_mask):
        mask = expand_mask(attention_mask, inputs_embeds.dtype, inputs_embeds.shape[1])
        h = self.norm("encoder.layernorm_embedding", inputs_embeds + self.positions("encoder", inputs_embeds))
        for i in range(self.enc_layers):
            L = f"encoder.layers.{i}"
            h = self.norm(L + ".self_attn_layer_norm", h + self.attention(L + ".self_attn", self.heads_enc, h, h, mask)[0])
            ffn = self.linear(L + ".fc2", F.gelu(self.linear(L + ".fc1", h)))
            h = self.norm(L + ".final_layer_norm", h + ffn)
        return h

    def decode(self, encoder_attention_mask, encoder_hidden_states, inputs_embeds):
        dtype = inputs_embeds.dtype
        B, T = inputs_embeds.shape[:2]
        causal = causal_mask(B, T, dtype)
        cross = expand_mask(encoder_attention_mask, dtype, T)
        h = self.norm("decoder.layernorm_embedding", inputs_embeds + self.positions("decoder", inputs_embeds))
        presents = []
        for i in range(self.dec_layers):
            L = f"decoder.layers.{i}"
            a, k, v = self.attention(L + ".self_attn", self.heads_dec, h, h, causal)
            h = self.norm(L + ".self_attn_layer_norm", h + a)
            c, ck, cv = self.attention(L + ".encoder_attn", self.heads_dec, h, encoder_hidden_states, cross)
            h = self.norm(L + ".encoder_attn_layer_norm", h + c)
            ffn = self.linear(L + ".fc2", F.gelu(self.linear(L + ".fc1", h)))
            h = self.norm(L + ".final_layer_norm", h + ffn)
            presents += [k, v, ck, cv]
        return (F.linear(h, self.p("shared.weight")), *presents)

    def embed(self, input_ids):
        return F.embedding(input_ids, self.p("shared.weight")) * self.scale


def expand_mask(mask, dtype, tgt_len):
    """Transformers 4.41's _expand_mask: int64 [B,S] (1 attend) -> [B,1,T,S] additive, 0 or the dtype's minimum."""
    bsz, src_len = mask.size()
    expanded = mask[:, None, None, :].expand(bsz, 1, tgt_len, src_len).to(dtype)
    inverted = 1.0 - expanded
    return inverted.masked_fill(inverted.to(torch.bool), torch.finfo(dtype).min)


def causal_mask(bsz, tgt_len, dtype):
    """Transformers 4.41's _make_causal_mask (no past): [B,1,T,T], 0 on and below the diagonal, the minimum above."""
    mask = torch.full((tgt_len, tgt_len), torch.finfo(dtype).min, dtype=dtype)
    cond = torch.arange(mask.size(-1))
    mask = mask.masked_fill(cond < (cond + 1).view(mask.size(-1), 1), 0).to(dtype)
    return mask[None, None, :, :].expand(bsz, 1, tgt_len, tgt_len)


class Call(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def export_graphs(model, text, out, opset, export_params=True, files=("embed_tokens", "encoder_model", "decoder_model")):
    d, B, S, T = text["d_model"], 2, 9, 5
    presents = [f"present.{i}.{who}.{kv}" for i in range(text["decoder_layers"]) for who in ("decoder", "encoder")
                for kv in ("key", "value")]
    specs = {
        "embed_tokens": (model.embed, (torch.randint(4, 50, (B, T)),), ["input_ids"], ["inputs_embeds"],
                         {"input_ids": {0: "batch_size", 1: "sequence_length"}, "inputs_embeds": {0: "batch_size", 1: "sequence_length"}}),
        "encoder_model": (model.encode, (torch.randn(B, S, d), torch.ones(B, S, dtype=torch.int64)),
                          ["inputs_embeds", "attention_mask"], ["last_hidden_state"],
                          {"inputs_embeds": {0: "batch_size", 1: "encoder_sequence_length"},
                           "attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                           "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}}),
        "decoder_model": (model.decode, (torch.ones(B, S, dtype=torch.int64), torch.randn(B, S, d), torch.randn(B, T, d)),
                          ["encoder_attention_mask", "encoder_hidden_states", "inputs_embeds"], ["logits", *presents],
                          {"encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                           "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
                           "inputs_embeds": {0: "batch_size", 1: "decoder_sequence_length"},
                           "logits": {0: "batch_size", 1: "decoder_sequence_length"},
                           **{n: {0: "batch_size", 2: "decoder_sequence_length" if ".decoder." in n else "encoder_sequence_length"}
                              for n in presents}}),
    }
    report = {}
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    for name in files:
        fn, args, inputs, outputs, axes = specs[name]
        path = os.path.join(out, "onnx", f"{name}.onnx")
        torch.onnx.export(Call(fn), args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True, export_params=export_params)
        graph = onnx.load(path).graph
        ops = {}
        for node in graph.node:
            ops[node.op_type] = ops.get(node.op_type, 0) + 1
        report[name] = {"opset": opset, "nodes": len(graph.node), "ops": dict(sorted(ops.items()))}
        print(f"  {name}.onnx (opset {opset}): {len(graph.node)} nodes, {report[name]['ops']}", flush=True)
    return report


def vision_encoder(package, out):
    """The package's vision graph with transformers.js's output name."""
    model = onnx.load(os.path.join(package, "vision.onnx"))
    for node in model.graph.node:
        node.output[:] = ["image_features" if o == "image_embeds" else o for o in node.output]
    for output in model.graph.output:
        if output.name == "image_embeds":
            output.name = "image_features"
    onnx.save(model, os.path.join(out, "onnx", "vision_encoder.onnx"))


def write_configs(checkpoint, package, out):
    for name in ("config.json", "generation_config.json", "preprocessor_config.json"):
        shutil.copyfile(os.path.join(checkpoint, name), os.path.join(out, name))
    shutil.copyfile(os.path.join(package, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "BartTokenizer", "model_max_length": 1024, "bos_token": "<s>", "eos_token": "</s>",
                   "pad_token": "<pad>", "unk_token": "<unk>", "add_prefix_space": False}, f, indent=1)
        f.write("\n")


def cross_entropy(logits, labels):
    """Mean cross-entropy over labels != -100 (tools/adalink/model.py's, int64 labels)."""
    valid = labels != -100
    log_probs = torch.log_softmax(logits, dim=-1)
    picked = log_probs.gather(-1, torch.where(valid, labels, torch.zeros_like(labels)).unsqueeze(-1)).squeeze(-1)
    weight = valid.to(picked.dtype)
    return -(picked * weight).sum() / weight.sum()


def reference(weights, text, manifest, path):
    """Loss and gradients of the vjp contract (docs/ENGINE.md §1) for one batch, float64, PyTorch autograd:
    the encoder reads concat(image, text embeds) with mask concat(ones, text_mask), the decoder reads the token
    embeddings of decoder_input_ids."""
    model = Bart(weights, text, torch.float64)
    g = torch.Generator().manual_seed(5)
    B, Ni, Nt, Nd, d = 2, manifest["image"]["tokens"], 6, 5, text["d_model"]
    image = torch.randn(B, Ni, d, generator=g, dtype=torch.float64)
    prompt = torch.randn(B, Nt, d, generator=g, dtype=torch.float64)
    mask = torch.ones(B, Nt, dtype=torch.int64)
    mask[1, 4:] = 0
    ids = torch.randint(4, text["vocab_size"], (B, Nd), generator=g)
    ids[:, 0] = text["decoder_start_token_id"]
    labels = torch.randint(4, text["vocab_size"], (B, Nd), generator=g)
    labels[1, 3:] = -100
    x, y = image.clone().requires_grad_(True), prompt.clone().requires_grad_(True)
    keep = torch.cat([torch.ones(B, Ni, dtype=torch.int64), mask], dim=1)
    hidden = model.encode(torch.cat([x, y], dim=1), keep)
    logits = model.decode(keep, hidden, model.embed(ids))[0]
    loss = cross_entropy(logits, labels)
    gx, gy = torch.autograd.grad(loss, (x, y))
    result = {"shape": {"B": B, "Ni": Ni, "Nt": Nt, "Nd": Nd, "d": d},
              "inputs": {"image_embeds": x.detach().flatten().tolist(), "text_embeds": y.detach().flatten().tolist(),
                         "text_mask": mask.flatten().tolist(), "decoder_input_ids": ids.flatten().tolist(),
                         "labels": labels.flatten().tolist()},
              "float64": {"loss": loss.item(), "grad_image_embeds": gx.flatten().tolist(), "grad_text_embeds": gy.flatten().tolist()}}
    with open(path, "w") as f:
        json.dump(result, f)
        f.write("\n")
    print(f"  reference: loss {loss.item():.12f} -> {path}")


# Florence-2 base and large language models (the sizes of the published configs' text_config).
SIZES = {
    "base": dict(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12, decoder_attention_heads=12,
                 encoder_ffn_dim=3072, decoder_ffn_dim=3072, max_position_embeddings=1024, vocab_size=51289),
    "large": dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16, decoder_attention_heads=16,
                  encoder_ffn_dim=4096, decoder_ffn_dim=4096, max_position_embeddings=1024, vocab_size=51289),
}


def random_weights(text):
    """Shapes of the checkpoint's language model at another size (values irrelevant: only op types are read)."""
    d, V, P = text["d_model"], text["vocab_size"], text["max_position_embeddings"] + 2
    w = {LM + "shared.weight": torch.zeros(V, d)}
    for part, layers, ffn in (("encoder", text["encoder_layers"], text["encoder_ffn_dim"]),
                              ("decoder", text["decoder_layers"], text["decoder_ffn_dim"])):
        w[f"{LM}{part}.embed_positions.weight"] = torch.zeros(P, d)
        w[f"{LM}{part}.layernorm_embedding.weight"] = torch.ones(d)
        w[f"{LM}{part}.layernorm_embedding.bias"] = torch.zeros(d)
        for i in range(layers):
            L = f"{LM}{part}.layers.{i}"
            for attn in ("self_attn", "encoder_attn") if part == "decoder" else ("self_attn",):
                for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    w[f"{L}.{attn}.{proj}.weight"] = torch.zeros(d, d)
                    w[f"{L}.{attn}.{proj}.bias"] = torch.zeros(d)
                w[f"{L}.{attn}_layer_norm.weight"] = torch.ones(d)
                w[f"{L}.{attn}_layer_norm.bias"] = torch.zeros(d)
            w[f"{L}.fc1.weight"], w[f"{L}.fc1.bias"] = torch.zeros(ffn, d), torch.zeros(ffn)
            w[f"{L}.fc2.weight"], w[f"{L}.fc2.bias"] = torch.zeros(d, ffn), torch.zeros(d)
            w[f"{L}.final_layer_norm.weight"], w[f"{L}.final_layer_norm.bias"] = torch.ones(d), torch.zeros(d)
    return w


def op_lists(path, opsets=(14, 17)):
    result = {}
    for size, text in SIZES.items():
        model = Bart(random_weights(text), text)
        for opset in opsets:
            tmp = f"/tmp/hub-florence-{size}-{opset}"
            print(f"[ops] {size}, opset {opset}", flush=True)
            result[f"{size}/opset{opset}"] = export_graphs(model, text, tmp, opset, export_params=False,
                                                            files=("encoder_model", "decoder_model"))
            shutil.rmtree(tmp, ignore_errors=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="tools/checkpoints/tiny-florence-test")
    p.add_argument("--package", default="public/models/tiny-florence-test")
    p.add_argument("--out", default="e2e/fixtures/hub/tiny-florence-test")
    p.add_argument("--opset", type=int, default=14)
    p.add_argument("--reference", default="src/autodiff/testing/florence-vjp-reference.json")
    p.add_argument("--ops", default="src/autodiff/testing/florence-ops.json")
    args = p.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, onnx {onnx.__version__}")
    with open(os.path.join(args.checkpoint, "config.json")) as f:
        text = json.load(f)["text_config"]
    with open(os.path.join(args.package, "manifest.json")) as f:
        manifest = json.load(f)
    weights = read_safetensors(os.path.join(args.checkpoint, "model.safetensors"))
    print(f"[1/4] {args.checkpoint} -> {args.out}", flush=True)
    report = export_graphs(Bart(weights, text), text, args.out, args.opset)
    vision_encoder(args.package, args.out)
    write_configs(args.checkpoint, args.package, args.out)
    with open(os.path.join(args.out, "export-report.json"), "w") as f:
        json.dump({"torch": torch.__version__, "exporter": "torchscript", **report}, f, indent=1)
        f.write("\n")
    print("[2/4] reference (float64 autograd)", flush=True)
    reference(weights, text, manifest, args.reference)
    print("[3/4] op lists of base and large", flush=True)
    op_lists(args.ops)
    print("[4/4] done")


if __name__ == "__main__":
    main()
