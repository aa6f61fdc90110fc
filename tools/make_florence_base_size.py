"""A training-only package of Florence-2-base's size, random weights (issue 5: what does a model of that size
cost to train in the studio): the real Florence-2-base architecture — DaViT (depths 1, 1, 9, 1; widths 128 to
1024; 768 x 768 images -> 577 image tokens) and BART-base (d_model 768, 6 + 6 layers, 12 heads, FFN 3072,
vocabulary 51 289) — initialised from a seed and rounded to float16 values, exported as vision.onnx, vjp.onnx
(GPU-input form), the embedding table and a manifest, without the generation graphs. Nothing is downloaded: the
tokenizer is the tiny Florence-2 test package's (its ids fit the table; only the shapes matter here).

    python3 tools/make_florence_base_size.py --out /tmp/florence-2-base-size      # about 4 minutes on 16 cores
    npm run bench:train -- --model /tmp/florence-2-base-size --batch 8 --examples 64

The vjp graph is checked against PyTorch autograd on two shapes (float32 and float64); the package is far above
the 40 MB a committed model may take, so it is made where it is measured (bench/gpu-runtime, docs/BENCHMARKS.md).
"""
import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/, for the adalink package

# Florence-2-base's config (microsoft/Florence-2-base, config.json), in transformers' Florence2Config names.
BASE_VISION = dict(depths=[1, 1, 9, 1], patch_size=[7, 3, 3, 3], patch_stride=[4, 2, 2, 2], patch_padding=[3, 1, 1, 1],
                   patch_prenorm=[False, True, True, True], embed_dim=[128, 256, 512, 1024], num_heads=[4, 8, 16, 32],
                   num_groups=[4, 8, 16, 32], window_size=12, mlp_ratio=4.0, drop_path_rate=0.0, projection_dim=768,
                   max_position_embeddings=50, max_temporal_embeddings=100)
BASE_TEXT = dict(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12, decoder_attention_heads=12,
                 encoder_ffn_dim=3072, decoder_ffn_dim=3072, max_position_embeddings=1024, activation_function="gelu",
                 scale_embedding=False)
BASE_IMAGE_SIZE = 768
BASE_VOCAB = 51289
SEED = 0
INIT_STD = 0.02


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="package folder to write")
    p.add_argument("--tokenizer", default="public/models/tiny-florence-test/tokenizer.json")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--init-std", type=float, default=INIT_STD)
    p.add_argument("--max-prompt-tokens", type=int, default=32)
    p.add_argument("--max-target-tokens", type=int, default=64)
    args = p.parse_args()

    import torch
    from safetensors.torch import save_file

    from adalink import export, florence as FL
    from adalink import vjp as vjp_graph

    t0 = time.time()
    log = lambda message: print(f"[{time.time() - t0:5.0f} s] {message}", flush=True)  # noqa: E731
    with open(args.tokenizer) as f:
        image_token_id = next(a["id"] for a in json.load(f)["added_tokens"] if a["content"] == "<image>")
    model = FL.tiny_florence(BASE_VOCAB, image_token_id, args.seed, args.init_std, BASE_IMAGE_SIZE, BASE_TEXT, BASE_VISION)
    cfg = model.cfg
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    log(f"model: {count(model.bart) / 1e6:.1f} M parameters (vision tower {count(model.bart.model.vision_tower) / 1e6:.1f} M), "
        f"{cfg.image_tokens} image tokens, d_model {cfg.d_model}")
    os.makedirs(args.out, exist_ok=True)

    export.export_vision(model, os.path.join(args.out, "vision.onnx"))
    export.store_float16(os.path.join(args.out, "vision.onnx"))
    export.strip_node_metadata(os.path.join(args.out, "vision.onnx"))
    log("vision.onnx written")

    vjp_path = os.path.join(args.out, "vjp.onnx")
    vjp_graph.export(model, vjp_path)
    export.store_float16(vjp_path)
    export.strip_node_metadata(vjp_path)
    ops, _, _ = vjp_graph.onnx_ops(vjp_path)
    log(f"vjp.onnx written: {sum(ops.values())} nodes")
    errors = vjp_graph.verify(model, vjp_path, cases=((2, 5, 7), (1, 3, 12)))
    log(f"vjp.onnx equals PyTorch autograd: {errors}")

    save_file({"embed_tokens": model.embed_tokens.detach().float().contiguous()},
              os.path.join(args.out, "text_embeddings.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
    manifest = export.manifest(cfg, os.path.basename(os.path.normpath(args.out)), "Florence-2-base size, random weights",
                               args.max_prompt_tokens, args.max_target_tokens, "What does the image describe?",
                               with_generation=False, architecture=FL.ARCHITECTURE, image_mean=FL.IMAGENET_MEAN,
                               image_std=FL.IMAGENET_STD, add_bos=True)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    sizes = {n: os.path.getsize(os.path.join(args.out, n)) for n in sorted(os.listdir(args.out))}
    log(f"wrote {args.out}: " + ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in sizes.items()))


if __name__ == "__main__":
    main()
