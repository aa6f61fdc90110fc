"""The whole pipeline for the tiny test model, top to bottom:

    dataset -> tokenizer -> model (random init) -> export + verify (package, generation graphs included)
            -> reference training fixtures -> greedy-decoding fixture (reference-greedy.json, on the CPU)

    python3 tools/make_tiny_package.py --out public/models/tiny-pali-test \
        --dataset e2e/fixtures/tiny-captions --fixtures e2e/fixtures

Needs torch, transformers, onnx, onnxruntime, onnxscript, tokenizers, safetensors, pillow, numpy (the GPU
machine's python3 has them all). The reference fixtures are computed on CUDA when there is a GPU.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/, for the adalink package

from adalink import dataset as D  # noqa: E402
from adalink.tokenizer import train_tokenizer  # noqa: E402

# The tiny test model (docs/ENGINE.md §1 example): image 32, patch 8 -> 16 image tokens, d_model 32.
MODEL = dict(image_size=32, patch_size=8, vit_width=32, vit_layers=1, vit_heads=2, vit_mlp=64, d_model=32,
             encoder_layers=1, decoder_layers=1, heads=2, ffn_dim=64, max_positions=64)
FIXTURES = {
    "reference-adamw.json": dict(optimizer="adamw", lr=0.01, warmup=5, schedule="inverse_sqrt", weight_decay=0.01,
                                 clip=1.0, batch_size=4, steps=50, seed=7, rank_image=8, rank_text=4, dropout=0.0),
    "reference-adafactor.json": dict(optimizer="adafactor", lr=0.03, warmup=5, schedule="inverse_sqrt",
                                     weight_decay=0.0, clip=1.0, batch_size=4, steps=50, seed=7, rank_image=8,
                                     rank_text=4, dropout=0.0),
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="public/models/tiny-pali-test", help="model package folder")
    p.add_argument("--dataset", default="e2e/fixtures/tiny-captions", help="imagefolder to write")
    p.add_argument("--fixtures", default="e2e/fixtures", help="folder for reference-*.json")
    p.add_argument("--checkpoint", default="tools/checkpoints/tiny-pali-test", help="PyTorch weights (outside the package)")
    p.add_argument("--dataset-seed", type=int, default=1234)
    p.add_argument("--dataset-size", type=int, default=32)
    p.add_argument("--vocab-size", type=int, default=340)  # 4 special + 256 bytes + 80 merges: whole words
    p.add_argument("--model-seed", type=int, default=0)
    p.add_argument("--init-std", type=float, default=0.2)  # 0.02 leaves the logits nearly uniform: a flat loss
    p.add_argument("--device", default=None)
    p.add_argument("--skip-fixtures", action="store_true")
    args = p.parse_args()

    import torch

    from adalink.export import write_generation_case, write_onnx_case, write_package
    from adalink.model import ModelConfig, build_model, save_checkpoint
    from adalink.reference_train import TrainConfig, train, write_fixture

    print(f"[1/6] dataset: {args.dataset_size} images, seed {args.dataset_seed} -> {args.dataset}", flush=True)
    rows = D.write_imagefolder(args.dataset, args.dataset_seed, args.dataset_size)
    for row in rows[:3]:
        print("   ", row)

    print(f"[2/6] tokenizer: byte-level BPE, vocab {args.vocab_size}", flush=True)
    tokenizer = train_tokenizer(D.all_caption_texts(), args.vocab_size)
    os.makedirs(args.out, exist_ok=True)
    tokenizer_path = os.path.join(args.out, "tokenizer.json")
    tokenizer.save(tokenizer_path)
    lengths = [len(tokenizer.encode(r["text"], add_special_tokens=False).ids) + 1 for r in rows]
    print(f"    vocab {tokenizer.get_vocab_size()}; target lengths (with eos) {min(lengths)}..{max(lengths)}; "
          f"'{rows[0]['text']}' -> {tokenizer.encode(rows[0]['text'], add_special_tokens=False).tokens}")

    print(f"[3/6] model: random init, torch seed {args.model_seed}, init std {args.init_std}", flush=True)
    cfg = ModelConfig(**MODEL, vocab_size=tokenizer.get_vocab_size(), init_std=args.init_std)
    model = build_model(cfg, args.model_seed)
    save_checkpoint(model, args.checkpoint)
    print(f"    {sum(p.numel() for p in model.parameters())} parameters -> {args.checkpoint}")

    print(f"[4/6] package -> {args.out}", flush=True)
    errors = write_package(model, args.out, tokenizer_path, "tiny-pali-test",
                           "Tiny PaLI-style test model (random weights)", max_prompt_tokens=16, max_target_tokens=24,
                           default_prompt=D.PROMPT)
    print(f"    max errors: {errors}")
    case_path = os.path.join(args.fixtures, "tiny-pali-test-onnx-case.json")
    os.makedirs(args.fixtures, exist_ok=True)
    write_onnx_case(args.out, model, case_path)
    print(f"    onnxruntime test vector -> {case_path}")
    gen_case_path = os.path.join(args.fixtures, "tiny-pali-test-generation-case.json")
    write_generation_case(args.out, model, gen_case_path)
    print(f"    generation graphs test vector -> {gen_case_path}")

    if args.skip_fixtures:
        return
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"[5/6] reference fixtures on {device}", flush=True)
    os.makedirs(args.fixtures, exist_ok=True)
    for name, overrides in FIXTURES.items():
        print(f"  {name}: {overrides}", flush=True)
        fixture = train(TrainConfig(**overrides), args.out, args.checkpoint, args.dataset, device)
        losses = fixture["losses"]
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        print(f"  {name}: loss {losses[0]:.6f} -> {losses[-1]:.6f} (mean of first 5 {first:.4f}, last 5 {last:.4f})")
        if not last < first - 0.05:
            raise SystemExit(f"{name}: the loss does not fall ({first:.4f} -> {last:.4f})")
        write_fixture(fixture, os.path.join(args.fixtures, name))

    print("[6/6] greedy-decoding fixture (PyTorch on the CPU; adapter = reference-adafactor.json's final weights)",
          flush=True)
    from adalink import reference_greedy as RG
    fixture, agree = RG.reference_greedy(args.out, args.checkpoint, args.dataset,
                                         os.path.join(args.fixtures, "reference-adafactor.json"))
    if any(v != len(fixture["examples"]) for v in agree.values()):
        raise SystemExit(f"greedy decoding through the ONNX graphs differs from PyTorch: {agree}")
    RG.write_fixture(fixture, os.path.join(args.fixtures, "reference-greedy.json"))


if __name__ == "__main__":
    main()
