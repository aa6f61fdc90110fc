"""PyTorch eager's side of `npm run bench:vjp`: the frozen model's loss and its gradients with respect to the
adapted embeddings (the vjp graph's function, adalink/vjp.py), on the GPU, at one input shape.

    PYTHONUNBUFFERED=1 python3 tools/bench_vjp_pytorch.py --batch 32 --prompt 3 --target 16

Same function as the exported graph (forward through the frozen encoder-decoder, cross-entropy, autograd back to
the two embedding inputs), float32 with TF32 off; each run ends with `loss.item()` as the engine's run ends with
the loss read back. Prints the median of `--runs` runs after `--warmup`.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/, for the adalink package


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="tools/checkpoints/pali-scenes-default")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--prompt", type=int, default=3)
    p.add_argument("--target", type=int, default=16)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--device", default="cuda")
    args = p.parse_args()

    import numpy as np
    import torch

    from adalink import vjp
    from adalink.model import load_checkpoint

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = args.device
    print(f"command: python3 tools/bench_vjp_pytorch.py {' '.join(sys.argv[1:])}")
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else device}; PyTorch {torch.__version__}")
    model = load_checkpoint(args.checkpoint).float().eval().to(device)
    inputs = vjp.example_inputs(model, args.batch, args.prompt, args.target, torch.Generator().manual_seed(0),
                                pad_prompts=False)
    f = vjp.vjp_function(model)
    times = []
    for i in range(args.warmup + args.runs):
        started = time.perf_counter()
        loss, grad_image, grad_text = f(*inputs)
        loss.item()
        if i >= args.warmup:
            times.append((time.perf_counter() - started) * 1000)
    q = np.percentile(times, [25, 50, 75])
    print(f"PyTorch eager vjp (B {args.batch}, Nt {args.prompt}, Nd {args.target}): median {q[1]:.2f} ms, "
          f"p25 {q[0]:.2f}, p75 {q[2]:.2f} over {len(times)} runs; peak memory " + (f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if device == "cuda" else "not measured"))


if __name__ == "__main__":
    main()
