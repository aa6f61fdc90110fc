"""Writes a model package (docs/ENGINE.md §1) from a PaliModel.

    <out>/manifest.json                 what the engine needs to know (format version 1)
    <out>/vision.onnx                   pixel_values [B,3,S,S] -> image_embeds [B,Ni,d]  (dynamic B)
    <out>/text_embeddings.safetensors   embed_tokens float32 [V,d]
    <out>/vjp.onnx                      adapted embeddings -> loss, dloss/dE_image, dloss/dE_text
    <out>/tokenizer.json                the Hugging Face tokenizer
    <out>/encoder.onnx, decoder_init.onnx, decoder_step.onnx
                                        the generation graphs of ENGINE.md §7 (adalink/generation.py)

Every ONNX file is checked against PyTorch with onnxruntime (CPU) before the manifest is written; a
mismatch raises. The PyTorch weights are saved outside the package (--checkpoint) for the reference trainer.

    cd tools && python3 -m adalink.export --tokenizer tok.json --out ../public/models/x --checkpoint ../x.ckpt

Replace only vjp.onnx of an existing package by the GPU-input form (float32 mask, int32 ids and labels;
vjp.py), leaving every other file as it is (the manifest gains `files.vjp.input_types`):

    cd tools && python3 -m adalink.export --vjp-only --float16-weights --out ../public/models/pali-scenes-default \
        --checkpoint checkpoints/pali-scenes-default

Add (or refresh) only the generation graphs of an existing package, from its saved weights, leaving every
other file as it is (the manifest gains the three `files` entries):

    cd tools && python3 -m adalink.export --generation-only --out ../public/models/tiny-pali-test \
        --checkpoint checkpoints/tiny-pali-test
"""
import argparse
import json
import os
import shutil

import numpy as np
import torch
from torch.export import Dim

from . import generation
from . import vjp as vjp_graph
from .model import ModelConfig, build_model, load_checkpoint, save_checkpoint

IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.5, 0.5, 0.5]


class VisionWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.image_embeds(pixel_values)


def export_vision(model, path):
    cfg = model.cfg
    pixels = torch.randn(2, 3, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0))
    program = torch.onnx.export(VisionWrapper(model), (pixels,), dynamo=True, input_names=["pixel_values"],
                                output_names=["image_embeds"], opset_version=vjp_graph.OPSET, external_data=False,
                                dynamic_shapes={"pixel_values": {0: Dim("batch", min=1, max=4096)}})
    program.save(path, external_data=False)


def verify_vision(model, path, batches=(1, 2, 5, 16), tol=1e-5):
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    cfg = model.cfg
    g = torch.Generator().manual_seed(2)
    worst = 0.0
    for B in batches:
        pixels = torch.rand(B, 3, cfg.image_size, cfg.image_size, generator=g) * 2 - 1
        expected = model.image_embeds(pixels).numpy()
        got = session.run(["image_embeds"], {"pixel_values": pixels.numpy()})[0]
        assert got.shape == (B, cfg.image_tokens, cfg.d_model), got.shape
        err = float(np.abs(got - expected).max() / max(1e-12, np.abs(expected).max()))
        print(f"  vision B={B}: max|onnx - torch| / max|torch| = {err:.2e}")
        worst = max(worst, err)
    if worst > tol:
        raise AssertionError(f"vision.onnx differs from PyTorch: {worst}")
    return worst


def vjp_manifest_entry(gpu_inputs=True):
    """files.vjp; `input_types` only for the GPU-input form (without it the engine feeds int64)."""
    entry = {"path": "vjp.onnx", "inputs": {n: n for n in vjp_graph.INPUT_NAMES},
             "outputs": {n: n for n in vjp_graph.OUTPUT_NAMES}}
    if gpu_inputs:
        entry["input_types"] = dict(vjp_graph.GPU_INPUT_TYPES)
    return entry


def manifest(cfg: ModelConfig, model_id, name, max_prompt_tokens, max_target_tokens, default_prompt,
             with_generation=True, architecture="pali-bart", image_mean=IMAGE_MEAN, image_std=IMAGE_STD, add_bos=False,
             vjp_gpu_inputs=True, resample="bilinear"):
    """add_bos: prompt and target ids start with bos_id (ENGINE.md §2; Florence-2). Written only when true.
    resample: Pillow's filter of the processor's resize to size x size (docs/IMAGES.md), lower case."""
    m = {
        "format": "adalink-model-package",
        "version": 1,
        "id": model_id,
        "name": name,
        "license": "MIT",
        "architecture": architecture,
        "d_model": cfg.d_model,
        "image": {"size": cfg.image_size, "mean": list(image_mean), "std": list(image_std), "tokens": cfg.image_tokens,
                  "resample": resample},
        "text": {
            "vocab_size": cfg.vocab_size, "pad_id": cfg.pad_id, "bos_id": cfg.bos_id, "eos_id": cfg.eos_id,
            "decoder_start_id": cfg.decoder_start_id, "max_prompt_tokens": max_prompt_tokens,
            "max_target_tokens": max_target_tokens, "default_prompt": default_prompt,
        },
        "tokenizer": "tokenizer.json",
        "files": {
            "vision": {"path": "vision.onnx",
                       "inputs": {"pixel_values": "pixel_values"},
                       "outputs": {"image_embeds": "image_embeds"}},
            "text_embeddings": {"path": "text_embeddings.safetensors", "tensor": "embed_tokens"},
            "vjp": vjp_manifest_entry(vjp_gpu_inputs),
        },
    }
    if add_bos:
        m["text"]["add_bos"] = True
    if with_generation:
        m["files"].update(generation.manifest_entries())
    return m


def export_generation(model, out, max_new=24, float16_weights=False, strip_metadata=False):
    """Writes and verifies encoder.onnx, decoder_init.onnx, decoder_step.onnx (ENGINE.md §7)."""
    cfg = model.cfg
    print(f"[export] generation graphs (L={cfg.decoder_layers}, H={cfg.heads}, dynamic B, Nt, T, P, S)")
    paths = generation.export(model, out)
    for name, path in paths.items():
        if float16_weights:
            print(f"  {name}.onnx: {store_float16(path)} initializers stored as float16")
        if strip_metadata:
            strip_node_metadata(path)
    errors = generation.verify(model, out, max_new=max_new)
    for name in generation.GRAPHS:
        ops, functions, opset = vjp_graph.onnx_ops(os.path.join(out, f"{name}.onnx"))
        ins, outs = describe_graph(os.path.join(out, f"{name}.onnx"))
        print(f"  {name}.onnx: {sum(ops.values())} nodes, opset {opset}, ops {dict(sorted(ops.items()))}")
        print(f"    inputs {ins} outputs {outs}")
    return errors


def add_generation(model, out, max_new=None):
    """Adds the generation graphs to an existing package: writes the three files and inserts their entries
    into manifest.json; every other file and key stays as it was."""
    path = os.path.join(out, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    assert m["d_model"] == model.cfg.d_model and m["text"]["vocab_size"] == model.cfg.vocab_size
    errors = export_generation(model.cpu().float().eval(), out, max_new or m["text"]["max_target_tokens"])
    m["files"].update(generation.manifest_entries())
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"[export] {path}: files {list(m['files'])}")
    return errors


def export_vjp(model, out, float16_weights=False, strip_metadata=False, gpu_inputs=True, check=None):
    """Writes, shrinks and verifies <out>/vjp.onnx. Returns vjp.verify's errors (through `check` if given)."""
    import time
    t0 = time.time()
    path = os.path.join(out, "vjp.onnx")
    print(f"[export] vjp.onnx (make_fx + torch.onnx.export, dynamic B, Nt, Nd, {'GPU' if gpu_inputs else 'int64'} inputs)")
    vjp_graph.export(model, path, gpu_inputs=gpu_inputs)
    if float16_weights:
        print(f"  vjp.onnx: {store_float16(path)} initializers stored as float16")
    if strip_metadata:
        strip_node_metadata(path)
    errors = (check or (lambda fn, *a, **k: fn(*a, **k)))(vjp_graph.verify, model, path, gpu_inputs=gpu_inputs)
    ops, functions, opset = vjp_graph.onnx_ops(path)
    print(f"  vjp.onnx: {sum(ops.values())} nodes, opset {opset}, local functions {functions} ({time.time() - t0:.0f} s)")
    print(f"  ops: {dict(sorted(ops.items()))}")
    return errors


def replace_vjp(model, out, float16_weights=False):
    """Rewrites an existing package's vjp.onnx in the GPU-input form and its manifest's files.vjp entry;
    every other file and key stays as it was."""
    path = os.path.join(out, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    assert m["d_model"] == model.cfg.d_model and m["text"]["vocab_size"] == model.cfg.vocab_size
    errors = export_vjp(model.cpu().float().eval(), out, float16_weights, strip_metadata=True)
    m["files"]["vjp"] = vjp_manifest_entry(True)
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    return errors


def strip_node_metadata(path):
    """Removes what torch.onnx.export(dynamo=True) writes on every node for debugging (metadata_props: the
    PyTorch stack trace and module names; doc_string). Nothing the graph computes depends on it; for
    Florence-2's modules it is three quarters of the file."""
    import onnx
    model = onnx.load(path)
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(model, path)


def store_float16(path, min_elements=256):
    """Rewrites an ONNX file so that every float32 initializer of at least `min_elements` values whose values
    are all exactly float16 numbers is stored as float16 and cast back to float32 at the graph's start
    (`Cast(to=FLOAT)`, which onnxruntime folds into a float32 initializer when the session is created).
    The graph computes exactly what it computed before; the file is about half as large. Returns the number
    of initializers converted."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    model = onnx.load(path)
    graph = model.graph
    casts, kept, converted = [], [], 0
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and np.prod(init.dims) >= min_elements:
            x = numpy_helper.to_array(init)
            h = x.astype(np.float16)
            if np.array_equal(h.astype(np.float32), x, equal_nan=True):
                stored = numpy_helper.from_array(h, init.name + "__f16")
                kept.append(stored)
                casts.append(helper.make_node("Cast", [stored.name], [init.name], to=TensorProto.FLOAT,
                                              name=init.name + "__cast"))
                converted += 1
                continue
        kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return converted


def describe_graph(path):
    import onnx
    m = onnx.load(path)
    dtype = {1: "float32", 7: "int64", 11: "float64"}

    def shape(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    ins = [(v.name, dtype.get(v.type.tensor_type.elem_type), shape(v)) for v in m.graph.input]
    outs = [(v.name, dtype.get(v.type.tensor_type.elem_type), shape(v)) for v in m.graph.output]
    assert all(not t.external_data for t in m.graph.initializer), "initializers must be embedded"
    return ins, outs


def write_onnx_case(package, model, path):
    """Inputs and onnxruntime (CPU) outputs of both graphs on one small batch (B=3, Nt=6 with a padded
    prompt, Nd=9 with -100 labels; one image for vision): a test vector for the engine's ORT sessions."""
    import onnxruntime as ort
    model = model.cpu().float()
    inputs = vjp_graph.example_inputs(model, 3, 6, 9, torch.Generator().manual_seed(5))
    with open(os.path.join(package, "manifest.json")) as f:
        if "input_types" in json.load(f)["files"]["vjp"]:
            inputs = vjp_graph.to_gpu_inputs(inputs)
    feeds = {n: x.detach().numpy() for n, x in zip(vjp_graph.INPUT_NAMES, inputs)}
    outs = ort.InferenceSession(os.path.join(package, "vjp.onnx"), providers=["CPUExecutionProvider"]).run(
        vjp_graph.OUTPUT_NAMES, feeds)
    pixels = (torch.rand(1, 3, model.cfg.image_size, model.cfg.image_size,
                         generator=torch.Generator().manual_seed(6)) * 2 - 1).numpy()
    image_embeds = ort.InferenceSession(os.path.join(package, "vision.onnx"), providers=["CPUExecutionProvider"]).run(
        ["image_embeds"], {"pixel_values": pixels})[0]

    def tensor(x):
        x = np.asarray(x)
        return {"dtype": str(x.dtype), "dims": list(x.shape), "data": x.reshape(-1).tolist()}
    case = {"package": os.path.basename(os.path.normpath(package)),
            "vision": {"inputs": {"pixel_values": tensor(pixels)}, "outputs": {"image_embeds": tensor(image_embeds)}},
            "vjp": {"inputs": {n: tensor(v) for n, v in feeds.items()},
                    "outputs": {n: tensor(v) for n, v in zip(vjp_graph.OUTPUT_NAMES, outs)}}}
    with open(path, "w") as f:
        json.dump(case, f)
        f.write("\n")


def write_generation_case(package, model, path):
    """Inputs and onnxruntime (CPU) outputs of the generation graphs on one small batch (B=2, Nt=6, row 1 a
    padded prompt): encoder; decoder_init on the start token; one decoder_step on the argmax tokens (the
    inputs chained from the outputs before them, as the engine runs them). A test vector for the engine."""
    import onnxruntime as ort
    model = model.cpu().float()
    cfg = model.cfg
    image, text, text_mask = generation.example_batch(model, 2, 6, torch.Generator().manual_seed(7))
    text_mask[1, 3:] = 0
    sess = {n: ort.InferenceSession(os.path.join(package, f"{n}.onnx"), providers=["CPUExecutionProvider"])
            for n in generation.GRAPHS}
    cases = {}

    def run(name, feeds):
        outs = sess[name].run(generation.GRAPHS[name]["outputs"], feeds)
        cases[name] = {"inputs": feeds, "outputs": dict(zip(generation.GRAPHS[name]["outputs"], outs))}
        return outs
    hidden, = run("encoder", {"image_embeds": image.numpy(), "text_embeds": text.numpy(),
                              "text_mask": text_mask.numpy()})
    enc_mask = np.concatenate([np.ones((2, cfg.image_tokens), np.int64), text_mask.numpy()], axis=1)
    logits, sk, sv, ck, cv = run("decoder_init", {"decoder_input_ids": np.full((2, 1), cfg.decoder_start_id, np.int64),
                                                  "encoder_hidden": hidden, "encoder_mask": enc_mask})
    run("decoder_step", {"decoder_input_ids": logits[:, -1].argmax(-1).astype(np.int64)[:, None],
                         "encoder_mask": enc_mask, "past_self_keys": sk, "past_self_values": sv,
                         "cross_keys": ck, "cross_values": cv})

    def tensor(x):
        x = np.asarray(x)
        return {"dtype": str(x.dtype), "dims": list(x.shape), "data": x.reshape(-1).tolist()}
    out = {"package": os.path.basename(os.path.normpath(package))}
    for name, c in cases.items():
        out[name] = {k: {n: tensor(v) for n, v in c[k].items()} for k in ("inputs", "outputs")}
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")


def write_package(model, out, tokenizer_path, model_id, name, max_prompt_tokens=16, max_target_tokens=24,
                  default_prompt="caption en", float16_weights=False, license="MIT", strict=True, strip_metadata=False,
                  **manifest_fields):
    """float16_weights: store the ONNX files' weights as float16 (store_float16); the model's weights must
    already be float16 values (model.round_to_float16), so every graph still computes exactly in float32.
    strict=False: a failed check is printed as a WARNING instead of raised (the package is written anyway).
    strip_metadata: strip_node_metadata on every graph (before its checks).
    manifest_fields: architecture, image_mean, image_std, add_bos, vjp_gpu_inputs (see manifest)."""

    def check(fn, *a, **k):
        try:
            return fn(*a, **k)
        except AssertionError as e:
            if strict:
                raise
            print(f"  WARNING: check failed: {e}")
            return {"failed": str(e)}
    from safetensors.torch import save_file
    cfg = model.cfg
    model = model.cpu().float().eval()
    os.makedirs(out, exist_ok=True)
    check_tokenizer_fits(tokenizer_path, cfg.vocab_size)

    import time
    t0 = time.time()
    print(f"[export] vision.onnx ({cfg.image_size}x{cfg.image_size} -> {cfg.image_tokens} x {cfg.d_model})")
    export_vision(model, os.path.join(out, "vision.onnx"))
    if float16_weights:
        print(f"  vision.onnx: {store_float16(os.path.join(out, 'vision.onnx'))} initializers stored as float16")
    if strip_metadata:
        strip_node_metadata(os.path.join(out, "vision.onnx"))
    vision_err = check(verify_vision, model, os.path.join(out, "vision.onnx"))

    vjp_err = export_vjp(model, out, float16_weights, strip_metadata, manifest_fields.get("vjp_gpu_inputs", True), check)
    for f in ("vision.onnx", "vjp.onnx"):
        ins, outs = describe_graph(os.path.join(out, f))
        print(f"  {f} inputs {ins} outputs {outs}")
    print(f"[export] {time.time() - t0:.0f} s")
    generation_err = check(export_generation, model, out, max_target_tokens, float16_weights, strip_metadata)

    save_file({"embed_tokens": model.embed_tokens.detach().float().contiguous()},
              os.path.join(out, "text_embeddings.safetensors"), metadata={"format": "pt"})
    if os.path.abspath(tokenizer_path) != os.path.abspath(os.path.join(out, "tokenizer.json")):
        shutil.copyfile(tokenizer_path, os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        m = manifest(cfg, model_id, name, max_prompt_tokens, max_target_tokens, default_prompt, **manifest_fields)
        m["license"] = license
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"[export] {time.time() - t0:.0f} s; wrote {out}: " + ", ".join(f"{n} {os.path.getsize(os.path.join(out, n)) // 1024} KiB"
                                                for n in sorted(os.listdir(out))))
    return {"vision": vision_err, "vjp": vjp_err, "generation": generation_err}


def check_tokenizer_fits(tokenizer_path, vocab_size):
    """Every id the tokenizer can give must have a row in the model's embedding table, except special added
    tokens that prompts and captions never contain (e.g. Florence-2's image placeholder): those are listed."""
    with open(tokenizer_path) as f:
        t = json.load(f)
    ids = dict(t["model"]["vocab"])
    special = {a["content"]: a["id"] for a in t.get("added_tokens", []) if a.get("special")}
    ids.update({a["content"]: a["id"] for a in t.get("added_tokens", [])})
    outside = {tok: i for tok, i in ids.items() if i >= vocab_size}
    regular = {tok: i for tok, i in outside.items() if tok not in special}
    if regular:
        raise AssertionError(f"tokenizer ids outside the embedding table of {vocab_size} rows: "
                             f"{sorted(regular.items())[:5]}")
    if outside:
        print(f"  note: special tokens without an embedding row (the engine refuses text that has them): {outside}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="package folder to write")
    p.add_argument("--tokenizer", help="tokenizer.json (its vocabulary sets vocab_size)")
    p.add_argument("--checkpoint", required=True, help="folder of the PyTorch weights (written, or read with --load)")
    p.add_argument("--load", action="store_true", help="load the weights from --checkpoint instead of a random init")
    p.add_argument("--generation-only", action="store_true",
                   help="add the generation graphs to the existing package --out (weights from --checkpoint)")
    p.add_argument("--vjp-only", action="store_true",
                   help="replace vjp.onnx of the existing package --out by the GPU-input form (weights from --checkpoint)")
    p.add_argument("--seed", type=int, default=0, help="torch seed of the random initialisation")
    p.add_argument("--id", default="tiny-pali-test")
    p.add_argument("--name", default="Tiny PaLI-style test model (random weights)")
    p.add_argument("--max-prompt-tokens", type=int, default=16)
    p.add_argument("--max-target-tokens", type=int, default=24)
    p.add_argument("--default-prompt", default="caption en")
    p.add_argument("--float16-weights", action="store_true",
                   help="store the ONNX weights as float16 (the checkpoint's weights must be float16 values)")
    p.add_argument("--no-strict", action="store_true", help="print failed checks as warnings instead of stopping")
    p.add_argument("--license", default="MIT")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    for field, default in ModelConfig().__dict__.items():
        if field != "vocab_size":
            p.add_argument("--" + field.replace("_", "-"), type=type(default), default=default)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.vjp_only:
        print("EXPORT_ERRORS " + json.dumps(replace_vjp(load_checkpoint(args.checkpoint), args.out, args.float16_weights)))
        return
    if args.generation_only:
        add_generation(load_checkpoint(args.checkpoint), args.out)
        return
    if not args.tokenizer:
        p.error("--tokenizer is required")
    if args.load:
        model = load_checkpoint(args.checkpoint)
    else:
        with open(args.tokenizer) as f:
            vocab_size = len(json.load(f)["model"]["vocab"])
        cfg = ModelConfig(**{k: getattr(args, k) for k in ModelConfig().__dict__ if k != "vocab_size"},
                          vocab_size=vocab_size)
        model = build_model(cfg, args.seed)
        save_checkpoint(model, args.checkpoint)
    errors = write_package(model, args.out, args.tokenizer, args.id, args.name, args.max_prompt_tokens,
                           args.max_target_tokens, args.default_prompt, float16_weights=args.float16_weights,
                           license=args.license, strict=not args.no_strict)
    print("EXPORT_ERRORS " + json.dumps(errors))


if __name__ == "__main__":
    main()
