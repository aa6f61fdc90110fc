"""Pretrains the default model `pali-scenes-default` on procedural scenes (tools/adalink/scenes.py), exports its
package, writes the demo dataset, and checks that AdaLink adaptation on the demo set works — in one run
(made for one call of the GPU machine, about 10 minutes on an H100):

  1. scenes: --scenes images x 4 tasks each (multiprocessing), a held-out set for evaluation;
  2. tokenizer: byte-level BPE on the generator's text (every word one token);
  3. pretraining: ViT + BART from scratch, AdamW, bf16 autocast, SDPA attention, for --train-seconds of
     wall clock (linear warm-up, cosine decay over the time budget); progress printed every ~15 s;
  4. weights rounded to float16 values (so the package can store them as float16 exactly), per-task greedy
     exact-match accuracy on held-out scenes, checkpoint (float16) written;
  5. package export (eager attention; vision, vjp, encoder, decoder_init, decoder_step; weights stored as
     float16, graphs computing in float32), each graph checked against PyTorch in onnxruntime;
  6. demo dataset (relational captions, a new caption style) -> imagefolder + zip;
  7. AdaLink with the engine's defaults (paper defaults: Adafactor lr 0.03, rank 64 + 64, dropout 0.1,
     warm-up 100 + inverse-sqrt, clip 1.0, batch 16, seed 0) on the demo train split with the PyTorch
     reference trainer; greedy captions of the validation split zero-shot and adapted; CIDEr-D (x100).

    PYTHONUNBUFFERED=1 python3 tools/pretrain_default.py            # on the GPU machine, from the repo root
    python3 tools/pretrain_default.py --smoke                          # minutes on a CPU: a tiny model, every stage

Outputs (paths relative to the repo root): public/models/pali-scenes-default/, public/demo/relational-captions.zip,
tools/checkpoints/pali-scenes-default/ (model.safetensors, 16 MB, is not committed), tools/logs/pretrain_default.log,
export_default.log and pretrain_default_results.json, e2e/fixtures/pali-scenes-default-adapter.safetensors (the
adapter of the first AdaLink run). Numbers of the committed run: tools/README.md.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/

import numpy as np  # noqa: E402

from adalink import scenes as S  # noqa: E402

MODEL = dict(image_size=64, patch_size=8, vit_width=256, vit_layers=4, vit_heads=4, vit_mlp=512, d_model=256,
             encoder_layers=3, decoder_layers=3, heads=4, ffn_dim=1024, max_positions=128)
SMOKE_MODEL = dict(image_size=64, patch_size=8, vit_width=64, vit_layers=1, vit_heads=2, vit_mlp=128, d_model=64,
                   encoder_layers=1, decoder_layers=1, heads=2, ffn_dim=128, max_positions=128)
MAX_PROMPT, MAX_TARGET = 16, 32
NOISE = ("Warning", "warnings.warn", "[torch.onnx]", "rename_mapping", "torchvision", "program = ", "return cls")
PACKAGE_ID = "pali-scenes-default"
PACKAGE_NAME = "PaLI-style scenes model (ViT + BART, pretrained on procedural scenes, multi-task)"


class Log:
    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.f = open(path, "w")
        self.t0 = time.time()

    def __call__(self, *parts):
        line = f"[{time.time() - self.t0:7.1f}s] " + " ".join(str(p) for p in parts)
        print(line, flush=True)
        self.f.write(line + "\n")
        self.f.flush()


def task_kind(prompt):
    if prompt == S.PROMPT:
        return "caption"
    if prompt == "how many objects?":
        return "count_all"
    if prompt.startswith("how many ") and prompt.endswith(" objects?"):
        return "count_colour"
    if prompt.startswith("how many"):
        return "count_shape"
    if prompt.startswith("what colour"):
        return "colour"
    if prompt.startswith("what shape"):
        return "shape"
    if prompt.startswith("where is") and " relative to " in prompt:
        return "relation"
    if prompt.startswith("where is"):
        return "where"
    if prompt.startswith("describe"):
        return "describe"
    if prompt.startswith("what pattern"):
        return "pattern"
    if prompt.startswith("what size"):
        return "size"
    return "other"


def text_tensors(texts, tokenizer, eos_id):
    """Flattened (scene x task) pairs -> padded prompt ids, prompt lengths, target ids, target lengths."""
    from adalink.tokenizer import encode_ids
    pairs = [pa for t in texts for pa in t]
    prompts = {p: encode_ids(tokenizer, p, eos_id, MAX_PROMPT) for p in set(p for p, _ in pairs)}
    answers = {a: encode_ids(tokenizer, a, eos_id, MAX_TARGET) for a in set(a for _, a in pairs)}
    P = np.zeros((len(pairs), MAX_PROMPT), np.int64)
    T = np.zeros((len(pairs), MAX_TARGET), np.int64)
    PL = np.zeros(len(pairs), np.int64)
    TL = np.zeros(len(pairs), np.int64)
    for i, (p, a) in enumerate(pairs):
        pi, ai = prompts[p], answers[a]
        P[i, :len(pi)], PL[i] = pi, len(pi)
        T[i, :len(ai)], TL[i] = ai, len(ai)
    return P, PL, T, TL, pairs


def pixels_of(images_u8):
    """uint8 [B,S,S,3] -> pixel_values [B,3,S,S] = (x/255 - 0.5) / 0.5 (ENGINE.md §1, mean = std = 0.5)."""
    return images_u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def pretrain(model, data, args, log, device):
    import torch
    images, P, PL, T, TL, K = data
    cfg = model.cfg
    model.train().requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01, eps=1e-8,
                            fused=device == "cuda")
    M = P.shape[0]
    ar_p, ar_t = torch.arange(MAX_PROMPT, device=device), torch.arange(MAX_TARGET, device=device)
    g = torch.Generator(device=device).manual_seed(args.seed)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    start = time.time()
    step, last_log, run_loss, run_n, history = 0, start, 0.0, 0, []
    while True:
        frac = (time.time() - start) / args.train_seconds
        if frac >= 1.0 or (args.max_steps and step >= args.max_steps):
            break
        step += 1
        warm = min(1.0, step / args.warmup)
        lr = args.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(M, (args.batch,), device=device, generator=g)
        pl, tl = PL[idx], TL[idx]
        lp, lt = (int(x) for x in torch.stack([pl.max(), tl.max()]).tolist())
        ids = P[idx, :lp]
        text_mask = (ar_p[None, :lp] < pl[:, None]).long()
        tgt = T[idx, :lt]
        valid = ar_t[None, :lt] < tl[:, None]
        labels = torch.where(valid, tgt, -100)
        dec_in = torch.cat([torch.full_like(tgt[:, :1], cfg.decoder_start_id), tgt[:, :-1]], dim=1)
        dec_in = torch.where(valid, dec_in, cfg.pad_id)
        pix = pixels_of(images[idx // K])
        with amp:
            image = model.vit(pix)
            text = torch.nn.functional.embedding(ids, model.embed_tokens)
            keep = torch.cat([torch.ones_like(text_mask[:, :1]).expand(-1, image.shape[1]), text_mask], dim=1)
            out = model.bart(inputs_embeds=torch.cat([image, text.to(image.dtype)], dim=1), attention_mask=keep,
                             decoder_input_ids=dec_in, labels=labels, use_cache=False)
        loss = out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run_loss += float(loss.detach()) if step % 10 == 0 else 0.0
        run_n += 1 if step % 10 == 0 else 0
        if time.time() - last_log > args.log_every and run_n:
            mean = run_loss / run_n
            history.append({"step": step, "seconds": round(time.time() - start, 1), "loss": round(mean, 5),
                            "lr": lr})
            log(f"  step {step:6d}  loss {mean:.4f}  lr {lr:.2e}  {step / (time.time() - start):.1f} steps/s")
            last_log, run_loss, run_n = time.time(), 0.0, 0
    model.eval().requires_grad_(False)
    return step, time.time() - start, history


def evaluate_tasks(model, tokenizer, images, texts, device, log, batch=512):
    """Greedy exact-match accuracy per task kind (PyTorch, float32) on held-out scenes; also the mean
    teacher-forced loss."""
    import torch

    from adalink.generation import greedy_torch
    from adalink.tokenizer import encode_ids
    cfg = model.cfg
    pairs = [(i, p, a) for i, t in enumerate(texts) for p, a in t]
    correct, total, examples = {}, {}, {}
    for b in range(0, len(pairs), batch):
        chunk = pairs[b:b + batch]
        prompts = [encode_ids(tokenizer, p, cfg.eos_id, MAX_PROMPT) for _, p, _ in chunk]
        Nt = max(map(len, prompts))
        ids = torch.tensor([p + [cfg.pad_id] * (Nt - len(p)) for p in prompts], device=device)
        mask = torch.tensor([[1] * len(p) + [0] * (Nt - len(p)) for p in prompts], device=device)
        with torch.no_grad():
            image = model.image_embeds(pixels_of(images[torch.tensor([i for i, _, _ in chunk], device=device)]))
            out, _ = greedy_torch(model, image, model.text_embeds(ids), mask, MAX_TARGET, cfg.decoder_start_id,
                                  cfg.eos_id, cfg.pad_id)
        for (i, p, a), o in zip(chunk, out):
            got = tokenizer.decode([t for t in o if t != cfg.eos_id], skip_special_tokens=True)
            k = task_kind(p)
            total[k] = total.get(k, 0) + 1
            correct[k] = correct.get(k, 0) + (got == a)
            if k not in examples or (got != a and len(examples[k]) < 3):
                examples.setdefault(k, [])
                examples[k].append({"prompt": p, "answer": a, "got": got})
    acc = {k: correct[k] / total[k] for k in sorted(total)}
    log("  greedy exact match per task: " + ", ".join(f"{k} {100 * v:.1f}% (n={total[k]})" for k, v in acc.items()))
    overall = sum(correct.values()) / sum(total.values())
    log(f"  overall {100 * overall:.1f}% of {sum(total.values())}")
    for k, ex in examples.items():
        for e in ex[:3]:
            log(f"    {k}: '{e['prompt']}' -> '{e['got']}' (answer '{e['answer']}')")
    return {"per_task": acc, "overall": overall, "n": sum(total.values()), "examples": examples}


def caption_rows(model, tokenizer, manifest, folder, rows, adapter, device, batch=128):
    """Greedy captions (PyTorch, float32) of imagefolder rows, with an optional adapter {m: (wdown, wup)}."""
    import torch

    from adalink.dataset import load_pixels
    from adalink.generation import greedy_torch
    from adalink.reference_greedy import adapt
    from adalink.tokenizer import encode_ids
    t = manifest["text"]
    captions = []
    for b in range(0, len(rows), batch):
        chunk = rows[b:b + batch]
        prompts = [encode_ids(tokenizer, r.get("prompt", t["default_prompt"]), t["eos_id"], t["max_prompt_tokens"])
                   for r in chunk]
        Nt = max(map(len, prompts))
        ids = torch.tensor([p + [t["pad_id"]] * (Nt - len(p)) for p in prompts], device=device)
        mask = torch.tensor([[1] * len(p) + [0] * (Nt - len(p)) for p in prompts], device=device)
        pix = torch.tensor(np.stack([load_pixels(folder, r, manifest["image"]["mean"], manifest["image"]["std"])
                                     for r in chunk]), device=device)
        with torch.no_grad():
            E_img, E_txt = model.image_embeds(pix), model.text_embeds(ids)
            if adapter:
                E_img = adapt(E_img, adapter.get("image"))
                E_txt = adapt(E_txt, adapter.get("text"))
            out, _ = greedy_torch(model, E_img, E_txt, mask, t["max_target_tokens"], t["decoder_start_id"],
                                  t["eos_id"], t["pad_id"])
        captions += [tokenizer.decode([i for i in o if i != t["eos_id"]], skip_special_tokens=True) for o in out]
    return captions


def write_adapter(path, fixture, d, package_id, extra):
    """The adapter file of src/formats/adapterFile.ts: `<m>.wdown` [d, r], `<m>.wup` [r, d] + metadata."""
    from safetensors.numpy import save_file
    rank = fixture["config"]["rank"]
    tensors = {}
    for m in ("image", "text"):
        tensors[f"{m}.wdown"] = np.array(fixture["final"]["wdown_" + m], np.float32).reshape(d, rank[m])
        tensors[f"{m}.wup"] = np.array(fixture["final"]["wup_" + m], np.float32).reshape(rank[m], d)
    c = fixture["config"]
    training_config = {"modalities": ["image", "text"], "rank": rank, "optimizer": c["optimizer"],
                       "learningRate": c["lr"], "warmupSteps": c["warmup"], "schedule": c["schedule"],
                       "weightDecay": c["weight_decay"], "clipNorm": c["clip"], "batchSize": c["batch_size"],
                       "steps": c["steps"], "dropout": c["dropout"], "seed": c["seed"]}
    meta = {"format": "adalink-adapter", "base_model": package_id, "d_model": str(d), "modalities": "image,text",
            "rank.image": str(rank["image"]), "rank.text": str(rank["text"]), "steps": str(len(fixture["losses"])),
            "final_loss": str(fixture["losses"][-1]), "training_config": json.dumps(training_config), **extra}
    save_file(tensors, path, metadata=meta)


def adalink_runs(args, log, manifest, tokenizer, model, device, results, deadline):
    import torch

    from adalink.cider import cider_d
    from adalink.dataset import read_imagefolder
    from adalink.reference_train import TrainConfig, train
    rows = read_imagefolder(args.demo_dir)
    val = [r for r in rows if r["split"] == "validation"]
    refs = {i: [r["text"]] for i, r in enumerate(val)}
    d = manifest["d_model"]
    zero = caption_rows(model, tokenizer, manifest, args.demo_dir, val, None, device)
    z_score, _ = cider_d(refs, dict(enumerate(zero)))
    z_exact = sum(c == r["text"] for c, r in zip(zero, val)) / len(val)
    log(f"  zero-shot on validation ({len(val)} images): CIDEr-D {100 * z_score:.1f}, exact {100 * z_exact:.1f}%")
    for c, r in list(zip(zero, val))[:4]:
        log(f"    '{c}'  (reference '{r['text']}')")
    results["adalink"] = {"validation_images": len(val), "train_images": len(rows) - len(val),
                          "zero_shot": {"cider_d": 100 * z_score, "exact": z_exact, "captions": zero[:10]},
                          "runs": []}
    for steps in args.adalink_steps:
        if time.time() > deadline:
            log(f"  skipping the {steps}-step run: past the time budget")
            continue
        cfg = TrainConfig(optimizer="adafactor", lr=0.03, warmup=100, schedule="inverse_sqrt", weight_decay=0.0,
                          clip=1.0, batch_size=16, steps=steps, seed=0, rank_image=64, rank_text=64, dropout=0.1)
        log(f"  AdaLink reference training: {cfg}")
        t0 = time.time()
        lines = []
        fixture = train(cfg, args.package_meta, args.checkpoint, args.demo_dir, device, check_autograd=steps <= 300,
                        log=lines.append, split="train", model=model)
        for line in lines[::10] + lines[-2:]:
            log("  " + line.strip())
        seconds = time.time() - t0
        adapter = {m: (torch.tensor(fixture["final"]["wdown_" + m], device=device).reshape(d, -1),
                       torch.tensor(fixture["final"]["wup_" + m], device=device).reshape(-1, d))
                   for m in ("image", "text")}
        adapted = caption_rows(model, tokenizer, manifest, args.demo_dir, val, adapter, device)
        a_score, _ = cider_d(refs, dict(enumerate(adapted)))
        a_exact = sum(c == r["text"] for c, r in zip(adapted, val)) / len(val)
        losses = fixture["losses"]
        log(f"  {steps} steps ({seconds:.0f} s): loss {np.mean(losses[:10]):.4f} (first 10) -> "
            f"{np.mean(losses[-10:]):.4f} (last 10); validation CIDEr-D {100 * z_score:.1f} -> {100 * a_score:.1f} "
            f"(+{100 * (a_score - z_score):.1f}), exact {100 * z_exact:.1f}% -> {100 * a_exact:.1f}%")
        for c, r in list(zip(adapted, val))[:6]:
            log(f"    '{c}'  (reference '{r['text']}')")
        run = {"config": fixture["config"], "seconds": seconds, "losses": losses, "cider_d": 100 * a_score,
               "gain": 100 * (a_score - z_score), "exact": a_exact, "captions": adapted[:10]}
        results["adalink"]["runs"].append(run)
        if args.adapter_out and steps == args.adalink_steps[0]:
            write_adapter(args.adapter_out, fixture, d, PACKAGE_ID,
                          {"validation_cider_d": f"{100 * a_score:.2f}", "dataset": "relational-captions (train split)"})
            log(f"  adapter -> {args.adapter_out}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", default="public/models/pali-scenes-default")
    p.add_argument("--checkpoint", default="tools/checkpoints/pali-scenes-default")
    p.add_argument("--demo-dir", default="/tmp/relational-captions", help="the demo imagefolder (unzipped)")
    p.add_argument("--demo-zip", default="public/demo/relational-captions.zip")
    p.add_argument("--log", default="tools/logs/pretrain_default.log")
    p.add_argument("--results", default="tools/logs/pretrain_default_results.json")
    p.add_argument("--adapter-out", default="e2e/fixtures/pali-scenes-default-adapter.safetensors")
    p.add_argument("--scenes", type=int, default=240000)
    p.add_argument("--eval-scenes", type=int, default=1500)
    p.add_argument("--tasks-per-scene", type=int, default=4)
    p.add_argument("--vocab-size", type=int, default=512)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--train-seconds", type=float, default=270)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--log-every", type=float, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--demo-seed", type=int, default=2024)
    p.add_argument("--demo-train", type=int, default=250)
    p.add_argument("--demo-validation", type=int, default=100)
    p.add_argument("--adalink-steps", default="1000,300", help="comma-separated step counts of AdaLink runs")
    p.add_argument("--budget-seconds", type=float, default=480, help="start no further AdaLink run past this")
    p.add_argument("--hard-seconds", type=float, default=575, help="stop waiting for the export at this wall time")
    p.add_argument("--smoke", action="store_true", help="a tiny model and a few steps (CPU test of every stage)")
    p.add_argument("--model-json", default=None, help="JSON object overriding fields of the model config")
    p.add_argument("--pretrain-only", action="store_true", help="stop after the held-out evaluation")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    args.adalink_steps = [int(s) for s in args.adalink_steps.split(",") if s]
    if args.smoke:
        args.scenes, args.eval_scenes, args.train_seconds, args.warmup = 4000, 100, 60, 50
        args.batch, args.adalink_steps, args.log_every = 32, [20], 10
        args.demo_train, args.demo_validation = 40, 20

    import torch
    from tokenizers import Tokenizer  # noqa: F401

    from adalink.model import ModelConfig, build_model, load_checkpoint, round_to_float16, save_checkpoint
    from adalink.tokenizer import train_tokenizer

    t_start = time.time()
    deadline = t_start + args.budget_seconds
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_flush_denormal(True)
    log = Log(args.log)
    results = {"package": PACKAGE_ID, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
               "torch": torch.__version__, "args": {k: v for k, v in vars(args).items()}}
    log(f"pretrain_default: device {results['device']}, torch {torch.__version__}, {os.cpu_count()} CPUs; args {vars(args)}")

    log(f"[1/7] scenes: {args.scenes} x {args.tasks_per_scene} tasks (+ {args.eval_scenes} held out)")
    images, texts = S.pretraining_set(args.seed, args.scenes, args.tasks_per_scene)
    eval_images, eval_texts = S.pretraining_set(args.seed + 1000, args.eval_scenes, 12)
    log(f"  {images.shape} uint8; e.g. {texts[0]}")

    log(f"[2/7] tokenizer: byte-level BPE, vocab {args.vocab_size}")
    tokenizer = train_tokenizer(S.corpus(args.seed, 20000 if not args.smoke else 2000), args.vocab_size)
    os.makedirs(args.package, exist_ok=True)
    tok_path = os.path.join(args.package, "tokenizer.json")
    tokenizer.save(tok_path)
    multi = []  # texts that take more tokens than words (+ punctuation): every word should be one token
    for text in S.corpus(1, 300):
        words = text.replace(",", " ,").replace("?", " ?").split()
        if len(tokenizer.encode(text, add_special_tokens=False).ids) != len(words):
            multi.append(text)
    log(f"  vocab {tokenizer.get_vocab_size()}; texts with a word of several tokens: {multi[:5] or 'none'}")
    P, PL, T, TL, pairs = text_tensors(texts, tokenizer, 2)
    log(f"  {len(pairs)} (prompt, answer) pairs; prompt tokens <= {PL.max()}, target tokens <= {TL.max()}")
    results["tokenizer"] = {"vocab": tokenizer.get_vocab_size(), "multi_token_words": multi}

    log("[3/7] pretraining")
    fields = dict(SMOKE_MODEL if args.smoke else MODEL, **json.loads(args.model_json or "{}"))
    mcfg = ModelConfig(**fields, vocab_size=tokenizer.get_vocab_size(), init_std=0.02)
    model = build_model(mcfg, args.seed, attn_implementation="sdpa").to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"  model {mcfg}; {n_params / 1e6:.2f} M parameters")
    gpu = lambda x: torch.from_numpy(x).to(device)  # noqa: E731
    data = (gpu(images), gpu(P), gpu(PL), gpu(T), gpu(TL), args.tasks_per_scene)
    steps, seconds, history = pretrain(model, data, args, log, device)
    del data
    log(f"  {steps} steps in {seconds:.0f} s ({steps * args.batch / seconds:.0f} examples/s); last loss "
        f"{history[-1]['loss'] if history else float('nan')}")
    results["pretraining"] = {"parameters": n_params, "steps": steps, "seconds": seconds, "batch": args.batch,
                              "history": history, "final_loss": history[-1]["loss"] if history else None}

    log("[4/7] round weights to float16 values; eager copy; held-out evaluation; checkpoint")
    round_to_float16(model)
    eager = build_model(mcfg, args.seed).to(device)
    eager.load_state_dict(model.state_dict())
    del model
    model = eager
    results["evaluation"] = evaluate_tasks(model, tokenizer, gpu(eval_images), eval_texts, device, log)
    if args.pretrain_only:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=1)
        return
    save_checkpoint(model, args.checkpoint, float16=True)
    reloaded = load_checkpoint(args.checkpoint).to(device)
    same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()))
    log(f"  checkpoint {args.checkpoint}: {os.path.getsize(os.path.join(args.checkpoint, 'model.safetensors')) / 1e6:.1f} MB"
        f" (float16, exact: {same})")
    with open(args.results, "w") as f:
        json.dump(results, f, indent=1)

    log(f"[5/7] package -> {args.package}: export + checks in a CPU subprocess, while 6-7 use the GPU")
    from adalink.export import manifest as package_manifest
    with open(os.path.join(args.package, "manifest.json"), "w") as f:  # rewritten identically by the export
        json.dump(package_manifest(mcfg, PACKAGE_ID, PACKAGE_NAME, MAX_PROMPT, MAX_TARGET, S.PROMPT), f, indent=2)
        f.write("\n")
    here = os.path.dirname(os.path.abspath(__file__))
    export_log = os.path.join(os.path.dirname(os.path.abspath(args.log)), "export_default.log")
    command = [sys.executable, "-m", "adalink.export", "--load", "--checkpoint", os.path.abspath(args.checkpoint),
               "--out", os.path.abspath(args.package), "--tokenizer", os.path.abspath(tok_path), "--id", PACKAGE_ID,
               "--name", PACKAGE_NAME, "--max-prompt-tokens", str(MAX_PROMPT), "--max-target-tokens", str(MAX_TARGET),
               "--default-prompt", S.PROMPT, "--float16-weights", "--no-strict",
               "--threads", str(max(1, (os.cpu_count() or 2) - 2))]
    import subprocess
    t_export = time.time()
    export = subprocess.Popen(command, cwd=here, stdout=open(export_log, "w"), stderr=subprocess.STDOUT)

    log(f"[6/7] demo dataset: {args.demo_train} train + {args.demo_validation} validation -> {args.demo_zip}")
    if os.path.isdir(args.demo_dir):
        shutil.rmtree(args.demo_dir)
    os.makedirs(os.path.dirname(args.demo_zip), exist_ok=True)
    rows = S.write_demo(args.demo_dir, args.demo_seed, args.demo_train, args.demo_validation, args.demo_zip)
    log(f"  zip {os.path.getsize(args.demo_zip) / 1e6:.2f} MB; e.g. {rows[0]}")
    results["demo"] = {"zip_bytes": os.path.getsize(args.demo_zip), "train": args.demo_train,
                       "validation": args.demo_validation, "seed": args.demo_seed}

    log("[7/7] AdaLink on the demo train split (engine defaults), CIDEr-D on validation")
    with open(os.path.join(args.package, "manifest.json")) as f:
        manifest = json.load(f)
    meta = args.demo_dir.rstrip("/") + "-package-meta"  # manifest + tokenizer, away from the export's rewrites
    os.makedirs(meta, exist_ok=True)
    for name in ("manifest.json", "tokenizer.json"):
        shutil.copyfile(os.path.join(args.package, name), os.path.join(meta, name))
    args.package_meta = meta
    try:
        adalink_runs(args, log, manifest, tokenizer, model, device, results, deadline)
    except Exception as e:  # keep the package and the log whatever happens here
        import traceback
        log("  AdaLink stage FAILED: " + "".join(traceback.format_exception(e)))
    with open(args.results, "w") as f:
        json.dump(results, f, indent=1)

    log("waiting for the export subprocess")
    try:
        export.wait(timeout=max(10.0, args.hard_seconds - (time.time() - t_start)))
    except subprocess.TimeoutExpired:
        export.kill()
        log("  export subprocess KILLED: out of time")
    with open(export_log) as f:
        lines = [line.rstrip() for line in f if not any(k in line for k in NOISE)]
    errors = None
    for line in lines:
        if line.startswith("EXPORT_ERRORS "):
            errors = json.loads(line[len("EXPORT_ERRORS "):])
        else:
            log("  | " + line)
    sizes = {n: os.path.getsize(os.path.join(args.package, n)) for n in sorted(os.listdir(args.package))}
    log(f"  export: exit {export.returncode}, {time.time() - t_export:.0f} s; errors {json.dumps(errors)}")
    log(f"  sizes: {sizes}; total {sum(sizes.values()) / 1e6:.2f} MB")
    results["package_files"] = sizes
    results["package_bytes"] = sum(sizes.values())
    results["export_errors"] = errors
    results["export_exit"] = export.returncode
    results["total_seconds"] = time.time() - t_start
    with open(args.results, "w") as f:
        json.dump(results, f, indent=1)
    log(f"done in {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
