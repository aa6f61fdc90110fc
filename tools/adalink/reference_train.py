"""The PyTorch reference AdaLink trainer: the numbers the TypeScript/WebGPU engine must reproduce.

Everything follows docs/ENGINE.md: batches and text per §2-3, AdaLink forward and backward per §4 (with
dL/dE~ from PyTorch autograd through the same loss function the vjp graph was exported from), the
optimizers per §5 written out by hand in float32 torch ops. Output: a fixture JSON in the form of §6.

Precision: float32 tensors on the GPU, TF32 off, deterministic algorithms. Scalars (lr_t, bias
corrections, beta2_t) are computed in float64 and rounded to float32; all tensor arithmetic is float32.
Matrices in the JSON are flat, row-major: Wdown (d x r) element (k, j) at k*r + j; Wup (r x d) at j*d + k.

    cd tools && python3 -m adalink.reference_train --package ../public/models/tiny-pali-test \
        --checkpoint checkpoints/tiny-pali-test --dataset ../e2e/fixtures/tiny-captions \
        --out ../e2e/fixtures/reference-adamw.json --optimizer adamw --lr 0.01 --weight-decay 0.01
"""
import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from . import random as R  # noqa: E402
from .dataset import load_pixels, read_imagefolder  # noqa: E402
from .model import load_checkpoint  # noqa: E402
from .tokenizer import bos_of, encode_ids  # noqa: E402

MODALITIES = ("image", "text")


@dataclass
class TrainConfig:
    optimizer: str = "adamw"  # adamw | adafactor
    lr: float = 0.01
    warmup: int = 5
    schedule: str = "inverse_sqrt"  # inverse_sqrt | constant
    weight_decay: float = 0.0
    clip: float = 1.0
    batch_size: int = 4
    steps: int = 50
    seed: int = 7
    rank_image: int = 8
    rank_text: int = 4
    dropout: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def fixture_config(self):
        c = {k: v for k, v in asdict(self).items() if k not in ("rank_image", "rank_text", "beta1", "beta2", "eps")}
        order = ["optimizer", "lr", "warmup", "schedule", "weight_decay", "clip", "batch_size", "steps", "seed"]
        out = {k: c[k] for k in order}
        out["rank"] = {"image": self.rank_image, "text": self.rank_text}
        out["dropout"] = self.dropout
        if self.optimizer == "adamw":
            out.update(beta1=self.beta1, beta2=self.beta2, eps=self.eps)
        return out


def setup_torch():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.set_float32_matmul_precision("highest")
    torch.use_deterministic_algorithms(True, warn_only=True)


# ---- data (ENGINE.md §2-3) ---------------------------------------------------------------------

def load_examples(dataset, tokenizer, text_cfg, image_cfg, split=None):
    """All examples of the imagefolder in file order: file_name, prompt_ids, target_ids, pixels. With
    `split`, only the rows whose `split` column equals it (e.g. the demo set's "train")."""
    examples = []
    for row in read_imagefolder(dataset):
        if split is not None and row.get("split") != split:
            continue
        prompt = row.get("prompt", text_cfg["default_prompt"])
        examples.append({
            "file_name": row["file_name"],
            "prompt_ids": encode_ids(tokenizer, prompt, text_cfg["eos_id"], text_cfg["max_prompt_tokens"],
                                     bos_of(text_cfg)),
            "target_ids": encode_ids(tokenizer, row["text"], text_cfg["eos_id"], text_cfg["max_target_tokens"],
                                     bos_of(text_cfg)),
            "pixels": load_pixels(dataset, row, image_cfg["mean"], image_cfg["std"], image_cfg["size"],
                                   image_cfg.get("resample", "bicubic")),
        })
    return examples


def make_batch(examples, indices, image_features, embed_tokens, text_cfg, device):
    """E_image [B,Ni,d], E_text [B,Nt,d] (pad rows = embedding of pad_id), text_mask, decoder_input_ids, labels."""
    pad, start = text_cfg["pad_id"], text_cfg["decoder_start_id"]
    prompts = [examples[i]["prompt_ids"] for i in indices]
    targets = [examples[i]["target_ids"] for i in indices]
    Nt, Nd = max(map(len, prompts)), max(map(len, targets))
    ids = torch.tensor([p + [pad] * (Nt - len(p)) for p in prompts], device=device)
    text_mask = torch.tensor([[1] * len(p) + [0] * (Nt - len(p)) for p in prompts], device=device)
    decoder_input_ids = torch.tensor([([start] + t[:-1]) + [pad] * (Nd - len(t)) for t in targets], device=device)
    labels = torch.tensor([t + [-100] * (Nd - len(t)) for t in targets], device=device)
    E_image = image_features[torch.tensor(indices, device=device)]
    E_text = embed_tokens[ids]
    return E_image, E_text, text_mask, decoder_input_ids, labels


# ---- AdaLink (ENGINE.md §4), over the N = B*T flattened tokens ----------------------------------

def adalink_forward(E, wdown, wup, keep, p):
    """H = dropout(E Wdown) (N x r); E~ = E + H Wup (N x d)."""
    H = (E @ wdown) * keep / (1.0 - p) if p > 0 else E @ wdown
    return H, E + H @ wup


def adalink_backward(E, H, G, valid, wup, keep, p):
    """dWup = H^T (valid*G); dH = keep * (valid*G) Wup^T / (1-p); dWdown = E^T dH."""
    Gv = G * valid[:, None]
    dwup = H.T @ Gv
    dH = Gv @ wup.T
    if p > 0:
        dH = dH * keep / (1.0 - p)
    return E.T @ dH, dwup


# ---- schedule, clipping, optimizers (ENGINE.md §5) ---------------------------------------------

def learning_rate(cfg, t):
    W = cfg.warmup
    if cfg.schedule == "inverse_sqrt":
        return cfg.lr * (min(t / W, math.sqrt(W / t)) if W >= 1 else 1.0 / math.sqrt(t))
    if cfg.schedule == "constant":
        return cfg.lr * (min(1.0, t / W) if W >= 1 else 1.0)
    raise ValueError(cfg.schedule)


def f32(x, device):
    return torch.tensor(x, dtype=torch.float32, device=device)


def global_norm(grads):
    return torch.sqrt(sum((g * g).sum() for g in grads))


def adamw_step(p, g, state, t, lr_t, cfg):
    """PyTorch's AdamW rule, literally as ENGINE.md §5 writes it."""
    dev = p.device
    lr, wd, b1, b2, eps = (f32(x, dev) for x in (lr_t, cfg.weight_decay, cfg.beta1, cfg.beta2, cfg.eps))
    bc1, bc2 = f32(1.0 - cfg.beta1 ** t, dev), f32(1.0 - cfg.beta2 ** t, dev)
    p = p - lr * wd * p
    state["m"] = b1 * state["m"] + (1 - b1) * g
    state["v"] = b2 * state["v"] + (1 - b2) * g * g
    return p - lr * (state["m"] / bc1) / (torch.sqrt(state["v"] / bc2) + eps)


def adafactor_step(p, g, state, t, lr_t, cfg):
    """Factored second moments, no momentum, no parameter scaling, update clipping at rms 1.

    v = row (x) col / mean(row) is evaluated as (row / mean(row)) (x) col: with g = 0 (Wdown at step 1,
    where Wup = 0) row = col = 1e-30 and the product row (x) col underflows to 0 in float32 (u = 0/0)."""
    dev = p.device
    lr, wd = f32(lr_t, dev), f32(cfg.weight_decay, dev)
    beta2t = f32(1.0 - t ** -0.8, dev)
    g2 = g * g + f32(1e-30, dev)
    state["row"] = beta2t * state["row"] + (1 - beta2t) * g2.mean(dim=1)  # R
    state["col"] = beta2t * state["col"] + (1 - beta2t) * g2.mean(dim=0)  # C
    v = (state["row"] / state["row"].mean())[:, None] * state["col"][None, :]
    u = g / torch.sqrt(v)
    u = u / torch.clamp(torch.sqrt((u * u).mean()) / 1.0, min=1.0)
    return p - lr * u - lr * wd * p


def init_state(cfg, p):
    if cfg.optimizer == "adamw":
        return {"m": torch.zeros_like(p), "v": torch.zeros_like(p)}
    if cfg.optimizer == "adafactor":
        return {"row": torch.zeros(p.shape[0], device=p.device), "col": torch.zeros(p.shape[1], device=p.device)}
    raise ValueError(cfg.optimizer)


# ---- the training loop ------------------------------------------------------------------------

def train(cfg: TrainConfig, package, checkpoint, dataset, device="cuda", check_autograd=True, log=print, split=None,
          model=None):
    """model: an already loaded PaliModel (else loaded from `checkpoint`)."""
    from tokenizers import Tokenizer
    setup_torch()
    with open(os.path.join(package, "manifest.json")) as f:
        manifest = json.load(f)
    text_cfg, image_cfg, d = manifest["text"], manifest["image"], manifest["d_model"]
    tokenizer = Tokenizer.from_file(os.path.join(package, manifest["tokenizer"]))
    model = (model if model is not None else load_checkpoint(checkpoint)).to(device)
    examples = load_examples(dataset, tokenizer, text_cfg, image_cfg, split)
    with torch.no_grad():
        pixels = torch.tensor(np.stack([e["pixels"] for e in examples]), device=device)
        image_features = model.image_embeds(pixels)  # [n, Ni, d], computed once (the engine caches these)
    embed_tokens = model.embed_tokens.detach()

    ranks = {"image": cfg.rank_image, "text": cfg.rank_text}
    init = {m: torch.tensor(R.init_wdown(cfg.seed, m, d, ranks[m]), device=device) for m in MODALITIES}
    params = {}
    for m in MODALITIES:
        params["wdown_" + m] = init[m].clone()
        params["wup_" + m] = torch.zeros(ranks[m], d, device=device)
    names = ["wdown_image", "wup_image", "wdown_text", "wup_text"]
    state = {n: init_state(cfg, params[n]) for n in names}
    step_fn = adamw_step if cfg.optimizer == "adamw" else adafactor_step
    batches = R.all_batches(cfg.seed, cfg.steps, cfg.batch_size, len(examples))
    losses, grad_norms, autograd_err = [], [], 0.0

    for s, indices in enumerate(batches):
        t = s + 1
        E_img, E_txt, text_mask, dec_ids, labels = make_batch(examples, indices, image_features, embed_tokens,
                                                              text_cfg, device)
        flat = {"image": E_img.reshape(-1, d), "text": E_txt.reshape(-1, d)}
        valid = {"image": torch.ones(flat["image"].shape[0], device=device), "text": text_mask.reshape(-1).float()}
        keep, H, adapted = {}, {}, {}
        for mi, m in enumerate(MODALITIES):
            mask = R.dropout_keep_mask(cfg.seed, s, m, flat[m].shape[0], ranks[m], cfg.dropout)
            keep[m] = torch.tensor(mask, dtype=torch.float32, device=device)
            H[m], adapted[m] = adalink_forward(flat[m], params["wdown_" + m], params["wup_" + m], keep[m], cfg.dropout)

        # The vjp: loss and dL/dE~ per modality (PyTorch autograd through the exported loss function).
        Ei = adapted["image"].reshape(E_img.shape).requires_grad_(True)
        Et = adapted["text"].reshape(E_txt.shape).requires_grad_(True)
        with torch.enable_grad():
            loss = model.loss_from_embeds(Ei, Et, text_mask, dec_ids, labels)
            Gi, Gt = torch.autograd.grad(loss, (Ei, Et))
        G = {"image": Gi.reshape(-1, d), "text": Gt.reshape(-1, d)}

        grads = {}
        for m in MODALITIES:
            grads["wdown_" + m], grads["wup_" + m] = adalink_backward(
                flat[m], H[m], G[m], valid[m], params["wup_" + m], keep[m], cfg.dropout)
        if check_autograd:
            autograd_err = max(autograd_err, check_against_autograd(model, flat, valid, keep, params, grads, E_img,
                                                                    E_txt, text_mask, dec_ids, labels, cfg.dropout))

        norm = global_norm([grads[n] for n in names])
        loss = loss.detach()
        losses.append(float(loss))
        grad_norms.append(float(norm))
        if not (math.isfinite(float(loss)) and math.isfinite(float(norm))):
            log(f"step {t}: loss {float(loss)} norm {float(norm)} not finite: no update, training stops")
            break
        if cfg.clip > 0:
            scale = torch.clamp(f32(cfg.clip, device) / (norm + f32(1e-6, device)), max=1.0)
            grads = {n: g * scale for n, g in grads.items()}
        lr_t = learning_rate(cfg, t)
        for n in names:
            params[n] = step_fn(params[n], grads[n], state[n], t, lr_t, cfg)
        if s % 10 == 0 or t == cfg.steps:
            log(f"  step {t:3d} loss {float(loss):.6f} |g| {float(norm):.3e} lr {lr_t:.5f} batch {indices}")
    if check_autograd:
        log(f"  manual AdaLink gradients vs autograd: max rel err {autograd_err:.2e}")

    def flat_list(x):
        return [float(v) for v in x.detach().cpu().numpy().astype(np.float32).reshape(-1)]
    return {
        "package": manifest["id"],
        "dataset": os.path.basename(os.path.normpath(dataset)),
        "config": cfg.fixture_config(),
        "examples": [{"file_name": e["file_name"], "prompt_ids": e["prompt_ids"], "target_ids": e["target_ids"]}
                     for e in examples],
        "init": {"wdown_image": flat_list(init["image"]), "wdown_text": flat_list(init["text"])},
        "batches": batches,
        "losses": [float(np.float32(x)) for x in losses],
        "grad_norms": [float(np.float32(x)) for x in grad_norms],
        "final": {n: flat_list(params[n]) for n in names},
    }


def check_against_autograd(model, flat, valid, keep, params, grads, E_img, E_txt, text_mask, dec_ids, labels, p):
    """The §4 formulas equal autograd through the adapter (padding rows carry no gradient either way,
    since dL/dE~ is zero there). Returns the max error relative to the largest gradient entry."""
    leaf = {n: v.detach().clone().requires_grad_(True) for n, v in params.items()}
    with torch.enable_grad():
        adapted = {}
        for m in MODALITIES:
            _, adapted[m] = adalink_forward(flat[m], leaf["wdown_" + m], leaf["wup_" + m], keep[m], p)
        loss = model.loss_from_embeds(adapted["image"].reshape(E_img.shape), adapted["text"].reshape(E_txt.shape),
                                      text_mask, dec_ids, labels)
        auto = torch.autograd.grad(loss, [leaf[n] for n in grads])
    scale = max(float(g.abs().max()) for g in auto) + 1e-30
    err = max(float((a - grads[n]).abs().max()) for a, n in zip(auto, grads)) / scale
    assert err < 1e-4, f"manual AdaLink gradients differ from autograd: {err}"
    return err


def write_fixture(fixture, path):
    """JSON with one line per top-level key, per example and per matrix (easy to read and to diff): the form of
    every fixture in e2e/fixtures (training and greedy decoding alike)."""
    def block(value, open_, close):
        inner = ",\n".join("  " + item for item in value)
        return f"{open_}\n{inner}\n {close}"
    parts = []
    for key, value in fixture.items():
        if key == "examples":
            text = block([json.dumps(e) for e in value], "[", "]")
        elif key in ("init", "final"):
            text = block([f"{json.dumps(n)}: {json.dumps(a)}" for n, a in value.items()], "{", "}")
        else:
            text = json.dumps(value)
        parts.append(f" {json.dumps(key)}: {text}")
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(parts) + "\n}\n")
    with open(path) as f:
        assert json.load(f) == fixture


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", required=True)
    p.add_argument("--checkpoint", required=True, help="folder with config.json + model.safetensors")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", default=None, help="train only on the rows whose `split` column equals this")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    for field, default in asdict(TrainConfig()).items():
        p.add_argument("--" + field.replace("_", "-"), type=type(default), default=default)
    args = p.parse_args()
    cfg = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    fixture = train(cfg, args.package, args.checkpoint, args.dataset, args.device, split=args.split)
    write_fixture(fixture, args.out)
    print(f"wrote {args.out}: loss {fixture['losses'][0]:.6f} -> {fixture['losses'][-1]:.6f}")


if __name__ == "__main__":
    main()
