"""A vjp graph of fixed shapes whose inputs the WebGPU provider can take without the CPU (issue 5).

The package's vjp.onnx has dynamic shapes and int64 `text_mask` / `labels`: onnxruntime-web's WebGPU
provider runs the int64 ops built from them (the label mask, the valid-token count, the gather index) on
the CPU, which costs a GPU→CPU round trip inside every step and rules out graph capture. This variant
takes `text_mask` as float32 and `decoder_input_ids` / `labels` as int32 (-100 = padding), picks the
target log-probabilities with a one-hot product instead of an int64 gather, and fixes B, Nt and Nd
(pad a smaller batch with rows whose labels are all -100: the loss and gradients are unchanged).

    PYTHONPATH=tools python3 tools/export_vjp_static.py --checkpoint tools/checkpoints/pali-scenes-default \
        --batch 32 --prompt 16 --target 32 --out /tmp/vjp_static.onnx

`--dynamic` keeps B, Nt and Nd symbolic (named batch, prompt_len, target_len, as the package's vjp.onnx): one
file for every shape, fixed per session by onnxruntime's `freeDimensionOverrides` (bench:vjp --free-dims).

It checks the file against PyTorch autograd in onnxruntime (CPU) and prints the op counts. Measure it with
`npm run bench:vjp -- --graph /tmp/vjp_static.onnx --gpu-inputs --batch 32 --prompt 16 --target 32 [--placement]`.
"""
import argparse

import numpy as np
import torch
from torch._decomp import core_aten_decompositions
from torch.export import Dim
from torch.fx.experimental.proxy_tensor import make_fx

import adalink.model as model_module
from adalink import vjp
from adalink.model import load_checkpoint


def cross_entropy_int32(logits, labels):
    """model.cross_entropy for int32 labels with no int64 op: valid = labels >= 0, one-hot pick."""
    valid = (labels >= 0).to(logits.dtype)
    vocab = torch.arange(logits.shape[-1], dtype=labels.dtype, device=labels.device)
    onehot = (labels[..., None] == vocab).to(logits.dtype)
    shifted = logits - logits.amax(dim=-1, keepdim=True).detach()
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
    return -((log_probs * onehot).sum(-1) * valid).sum() / valid.sum()


def vjp_function(model):
    def f(image_embeds, text_embeds, text_mask, decoder_input_ids, labels):
        with torch.enable_grad():
            image_embeds = image_embeds.detach().requires_grad_(True)
            text_embeds = text_embeds.detach().requires_grad_(True)
            loss = model.loss_from_embeds(image_embeds, text_embeds, text_mask, decoder_input_ids.long(), labels)
            grad_image, grad_text = torch.autograd.grad(loss, (image_embeds, text_embeds))
        return loss.detach(), grad_image, grad_text
    return f


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="tools/checkpoints/pali-scenes-default")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--target", type=int, default=32)
    p.add_argument("--out", required=True)
    p.add_argument("--dynamic", action="store_true", help="symbolic B, Nt, Nd (the example shapes must differ)")
    args = p.parse_args()
    model = load_checkpoint(args.checkpoint).float().eval()
    model_module.cross_entropy = cross_entropy_int32  # seq2seq_loss looks it up at call time
    image, text, mask, ids, labels = vjp.example_inputs(model, args.batch, args.prompt, args.target, torch.Generator().manual_seed(0))
    inputs = (image, text, mask.float(), ids.int(), labels.int())
    f = vjp_function(model)
    mode = "symbolic" if args.dynamic else "real"
    graph = make_fx(f, decomposition_table=core_aten_decompositions(), tracing_mode=mode, _allow_non_fake_inputs=True)(*inputs)
    dynamic_shapes = None
    if args.dynamic:
        B, Nt, Nd = Dim("batch", min=1, max=4096), Dim("prompt_len", min=1, max=4096), Dim("target_len", min=1, max=4096)
        dynamic_shapes = ({0: B}, {0: B, 1: Nt}, {0: B, 1: Nt}, {0: B, 1: Nd}, {0: B, 1: Nd})
    program = torch.onnx.export(graph, inputs, dynamo=True, input_names=vjp.INPUT_NAMES, output_names=vjp.OUTPUT_NAMES,
                                dynamic_shapes=dynamic_shapes, opset_version=vjp.OPSET, external_data=False)
    program.optimize()
    program.save(args.out, external_data=False)
    ops, _, _ = vjp.onnx_ops(args.out)
    print(f"{args.out}: {sum(ops.values())} nodes {dict(sorted(ops.items()))}")

    import onnxruntime as ort
    session = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    checks = [(f"B {args.batch}, Nt {args.prompt}, Nd {args.target}", inputs)]
    if args.dynamic:
        # Another shape through the same file.
        image, text, mask, ids, labels = vjp.example_inputs(model, 3, 5, 7, torch.Generator().manual_seed(1))
        checks.append(("B 3, Nt 5, Nd 7", (image, text, mask.float(), ids.int(), labels.int())))
    for shape, feeds in checks:
        onnx_out = session.run(None, {n: x.numpy() for n, x in zip(vjp.INPUT_NAMES, feeds)})
        torch_out = [x.numpy() for x in f(*feeds)]
        scale = max(np.abs(torch_out[1]).max(), np.abs(torch_out[2]).max())
        grad_err = max(np.abs(onnx_out[i] - torch_out[i]).max() for i in (1, 2)) / scale
        print(f"{shape}: loss {float(onnx_out[0]):.6f} (PyTorch {float(torch_out[0]):.6f}), |dgrad|/max|g| {grad_err:.1e}")
        assert abs(float(onnx_out[0]) - float(torch_out[0])) < 1e-4 and grad_err < 2e-5

if __name__ == "__main__":
    main()
