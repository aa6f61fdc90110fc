"""The tiny Florence-2 test package, top to bottom (the Florence-2 counterpart of make_tiny_package.py):

    tokenizer (byte-level BPE, BART's special ids) -> random Florence2ForConditionalGeneration of a tiny config
        -> checkpoint folder (as a download looks) -> export from that folder + checks (adalink/florence.py)
        -> reference training fixture -> greedy-decoding fixture (+ Hugging Face's processor-path generate)

    python3 tools/make_tiny_florence_package.py        # from the repository root; about 3 minutes on one CPU core

Defaults write public/models/tiny-florence-test, tools/checkpoints/tiny-florence-test,
e2e/fixtures/reference-florence-adamw.json and e2e/fixtures/reference-greedy-florence.json, on the images of
e2e/fixtures/tiny-captions (made by make_tiny_package.py). Needs torch, transformers (with Florence-2),
onnx, onnxruntime, onnxscript, tokenizers, safetensors, pillow, numpy.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/, for the adalink package

from adalink import dataset as D  # noqa: E402

PACKAGE_ID = "tiny-florence-test"
PACKAGE_NAME = "Tiny Florence-2 test model (random weights, DaViT + BART)"
# The training fixture: the settings of e2e/fixtures/reference-adamw.json (the PaLI tiny package's).
TRAIN = dict(optimizer="adamw", lr=0.01, warmup=5, schedule="inverse_sqrt", weight_decay=0.01, clip=1.0, batch_size=4,
             steps=50, seed=7, rank_image=8, rank_text=4, dropout=0.0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="public/models/" + PACKAGE_ID, help="model package folder")
    p.add_argument("--checkpoint", default="tools/checkpoints/" + PACKAGE_ID, help="Hugging Face folder of the weights")
    p.add_argument("--dataset", default="e2e/fixtures/tiny-captions", help="imagefolder of the fixtures")
    p.add_argument("--fixtures", default="e2e/fixtures", help="folder of the fixtures")
    p.add_argument("--vocab-size", type=int, default=340)
    p.add_argument("--model-seed", type=int, default=0)
    p.add_argument("--init-std", type=float, default=0.2)  # 0.02 leaves the logits nearly uniform
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-fixtures", action="store_true")
    args = p.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from adalink import florence as FL
    from adalink import reference_greedy as RG
    from adalink.reference_train import TrainConfig, train, write_fixture
    from adalink.tokenizer import train_tokenizer

    print(f"[1/5] tokenizer: byte-level BPE, vocab {args.vocab_size}, special tokens {FL.BART_SPECIAL_TOKENS}",
          flush=True)
    tokenizer = train_tokenizer(D.all_caption_texts(), args.vocab_size, FL.BART_SPECIAL_TOKENS)
    os.makedirs(args.checkpoint, exist_ok=True)
    tokenizer_path = os.path.join(args.checkpoint, "tokenizer.json")
    tokenizer.save(tokenizer_path)

    print(f"[2/5] model: random Florence-2 (tiny config), seed {args.model_seed}, init std {args.init_std}", flush=True)
    model = FL.tiny_florence(tokenizer.get_vocab_size(), tokenizer.token_to_id("<image>"), args.model_seed,
                             args.init_std)
    vision = sum(p.numel() for p in model.bart.model.vision_tower.parameters())
    total = sum(p.numel() for p in model.bart.parameters())
    print(f"    {total} parameters ({vision} in the vision tower); {model.cfg}")
    FL.save_florence(model, args.checkpoint, FL.IMAGENET_MEAN, FL.IMAGENET_STD)
    print(f"    -> {args.checkpoint}: {sorted(os.listdir(args.checkpoint))}")

    print(f"[3/5] package -> {args.out} (exported from the checkpoint folder, as a download would be)", flush=True)
    errors = FL.export_folder(args.checkpoint, args.out, PACKAGE_ID, PACKAGE_NAME, prompt=D.PROMPT,
                              max_prompt_tokens=16, max_target_tokens=24)
    print(f"    max errors: {errors}")
    if args.skip_fixtures:
        return

    print(f"[4/5] reference training fixture (CPU): {TRAIN}", flush=True)
    fixture = train(TrainConfig(**TRAIN), args.out, args.checkpoint, args.dataset, "cpu")
    losses = fixture["losses"]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"    loss {losses[0]:.6f} -> {losses[-1]:.6f} (mean of first 5 {first:.4f}, last 5 {last:.4f})")
    if not last < first - 0.05:
        raise SystemExit(f"the loss does not fall ({first:.4f} -> {last:.4f})")
    os.makedirs(args.fixtures, exist_ok=True)
    train_path = os.path.join(args.fixtures, "reference-florence-adamw.json")
    write_fixture(fixture, train_path)

    print("[5/5] greedy-decoding fixture (PyTorch; adapter = the training fixture's final weights)", flush=True)
    greedy, agree = RG.reference_greedy(args.out, args.checkpoint, args.dataset, train_path)
    n = len(greedy["examples"])
    if any(v != n for v in agree.values()):
        raise SystemExit(f"greedy decoding through the ONNX graphs differs from PyTorch: {agree}")
    same = processor_path_greedy(model, args.dataset, greedy, FL.IMAGENET_MEAN, FL.IMAGENET_STD)
    print(f"    Hugging Face generate(input_ids with image placeholders, pixel_values) == fixture (base): {same}/{n}")
    if same != n:
        raise SystemExit("Hugging Face's processor-path generate differs from the fixture")
    RG.write_fixture(greedy, os.path.join(args.fixtures, "reference-greedy-florence.json"))


def processor_path_greedy(model, dataset, fixture, mean, std):
    """How many of the fixture's base ids Florence-2's own generate reproduces from pixel_values and
    input_ids = [<image>] x Ni + prompt ids (the processor's layout), one image at a time."""
    import numpy as np
    import torch
    cfg = model.cfg
    rows = {r["file_name"]: r for r in D.read_imagefolder(dataset)}
    image_token = model.bart.config.image_token_id
    same = 0
    for e in fixture["examples"]:
        pixels = torch.tensor(D.load_pixels(dataset, rows[e["file_name"]], mean, std))[None]
        input_ids = torch.tensor([[image_token] * cfg.image_tokens + e["prompt_ids"]])
        with torch.no_grad():
            out = model.bart.generate(input_ids=input_ids, pixel_values=pixels,
                                      max_new_tokens=fixture["max_target_tokens"], do_sample=False, num_beams=1, no_repeat_ngram_size=0, forced_bos_token_id=None,
                                      forced_eos_token_id=None, min_length=0, repetition_penalty=1.0)
        ids = out[0, 1:].tolist()
        ids = ids[:ids.index(cfg.eos_id) + 1] if cfg.eos_id in ids else ids
        same += int(np.array_equal(ids, e["base"]["ids"]))
    return same


if __name__ == "__main__":
    main()
