"""A vjp graph of one fixed shape, in the GPU-input form (issue 5): for benchmarks of shape-specialised graphs.

The package's vjp.onnx (adalink/vjp.py, GPU-input form) has symbolic B, Nt and Nd, fixed per session by
onnxruntime's `freeDimensionOverrides`. This writes the same function traced at one shape (B, Nt, Nd), or
with `--dynamic` the package's symbolic file, from a checkpoint:

    PYTHONPATH=tools python3 tools/export_vjp_static.py --checkpoint tools/checkpoints/pali-scenes-default \
        --batch 32 --prompt 16 --target 32 --out /tmp/vjp_static.onnx

It checks the file against PyTorch autograd in onnxruntime (CPU) and prints the op counts. Measure it with
`npm run bench:vjp -- --graph /tmp/vjp_static.onnx --gpu-inputs --batch 32 --prompt 16 --target 32 [--placement]`
(a symbolic file: add --free-dims).
"""
import argparse

import numpy as np
import onnxruntime as ort
import torch

from adalink import vjp
from adalink.model import load_checkpoint


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="tools/checkpoints/pali-scenes-default")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--target", type=int, default=32)
    p.add_argument("--out", required=True)
    p.add_argument("--dynamic", action="store_true", help="symbolic B, Nt, Nd, as the package's vjp.onnx")
    args = p.parse_args()
    model = load_checkpoint(args.checkpoint).float().eval()
    shape = (args.batch, args.prompt, args.target)
    vjp.export(model, args.out, gpu_inputs=True, fixed_shape=None if args.dynamic else shape)
    ops, _, _ = vjp.onnx_ops(args.out)
    print(f"{args.out}: {sum(ops.values())} nodes {dict(sorted(ops.items()))}")

    session = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    f = vjp.vjp_function(model)
    for B, Nt, Nd in [shape] + ([(3, 5, 7)] if args.dynamic else []):
        feeds = vjp.to_gpu_inputs(vjp.example_inputs(model, B, Nt, Nd, torch.Generator().manual_seed(B)))
        onnx_out = session.run(None, {n: x.numpy() for n, x in zip(vjp.INPUT_NAMES, feeds)})
        torch_out = [x.numpy() for x in f(*feeds)]
        scale = max(np.abs(torch_out[1]).max(), np.abs(torch_out[2]).max())
        grad_err = max(np.abs(onnx_out[i] - torch_out[i]).max() for i in (1, 2)) / scale
        print(f"B {B}, Nt {Nt}, Nd {Nd}: loss {float(onnx_out[0]):.6f} (PyTorch {float(torch_out[0]):.6f}), "
              f"|dgrad|/max|g| {grad_err:.1e}")
        assert abs(float(onnx_out[0]) - float(torch_out[0])) < 1e-4 and grad_err < 2e-5


if __name__ == "__main__":
    main()
