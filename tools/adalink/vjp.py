"""The vjp graph: adapted embeddings -> (loss, dloss/dE_image, dloss/dE_text), as ONNX.

ONNX Runtime has no autograd, so the model package ships the backward pass as a graph of its own
(tools/README.md, "How the vjp graph is exported"). The function

    f(image_embeds, text_embeds, text_mask, decoder_input_ids, labels) -> (loss, grad_image, grad_text)

calls `torch.autograd.grad` inside; `make_fx` with the core ATen decompositions turns forward and
backward into one graph of plain ATen ops (symbolic shapes), and `torch.onnx.export(dynamo=True)` turns
that into standard ONNX with dynamic batch B, prompt length Nt and decoder length Nd. The frozen weights
become initializers embedded in the file.

Two forms of the inputs: the first packages took `text_mask`, `decoder_input_ids` and `labels` as int64.
onnxruntime-web's WebGPU provider runs the int64 ops built from them (the label mask, the token count, the
gather index) on the CPU — a GPU→CPU round trip inside every step, and no graph capture. The GPU-input form
(`gpu_inputs=True`, the default for new packages) takes a float32 mask and int32 ids and labels
(GPU_INPUT_TYPES, written to the manifest as `files.vjp.input_types`), so every op runs on the GPU.
"""
import numpy as np
import torch
from torch._decomp import core_aten_decompositions
from torch.export import Dim
from torch.fx.experimental.proxy_tensor import make_fx

INPUT_NAMES = ["image_embeds", "text_embeds", "text_mask", "decoder_input_ids", "labels"]
OUTPUT_NAMES = ["loss", "grad_image_embeds", "grad_text_embeds"]
OPSET = 18
# The GPU-input form's input types (manifest `files.vjp.input_types`); without that field they are int64.
GPU_INPUT_TYPES = {"text_mask": "float32", "decoder_input_ids": "int32", "labels": "int32"}


def to_gpu_inputs(inputs):
    """example_inputs (int64 mask, ids, labels) in the GPU-input form's types."""
    image, text, mask, ids, labels = inputs
    return image, text, mask.float(), ids.int(), labels.int()


def vjp_function(model, hf=False):
    """int64 or GPU-form inputs alike: the decoder's embedding lookup takes int64 ids (a cast on the GPU), the
    loss picks by the labels' dtype (model.cross_entropy)."""
    loss_fn = model.loss_from_embeds_hf if hf else model.loss_from_embeds

    def f(image_embeds, text_embeds, text_mask, decoder_input_ids, labels):
        decoder_input_ids = decoder_input_ids.long()
        with torch.enable_grad():
            image_embeds = image_embeds.detach().requires_grad_(True)
            text_embeds = text_embeds.detach().requires_grad_(True)
            loss = loss_fn(image_embeds, text_embeds, text_mask, decoder_input_ids, labels)
            grad_image, grad_text = torch.autograd.grad(loss, (image_embeds, text_embeds))
        return loss.detach(), grad_image, grad_text
    return f


def example_inputs(model, B, Nt, Nd, generator, pad_prompts=True, pad_targets=True):
    """A realistic batch: image tokens of random pixels, prompts of random ids padded with pad_id (some
    rows shorter), decoder ids / labels with -100 padding, and a small random adapter-like perturbation."""
    cfg = model.cfg
    dev = model.embed_tokens.device
    g = generator
    pixels = torch.randn(B, 3, cfg.image_size, cfg.image_size, generator=g).to(dev)
    image = model.image_embeds(pixels)
    prompt_len = torch.randint(1, Nt + 1, (B,), generator=g) if pad_prompts else torch.full((B,), Nt)
    prompt_len[0] = Nt  # the longest row sets Nt
    target_len = torch.randint(1, Nd + 1, (B,), generator=g) if pad_targets else torch.full((B,), Nd)
    target_len[-1] = Nd
    ids = torch.randint(4, cfg.vocab_size, (B, Nt), generator=g)
    text_mask = (torch.arange(Nt)[None, :] < prompt_len[:, None]).long()
    ids = torch.where(text_mask.bool(), ids, torch.full_like(ids, cfg.pad_id))
    text = model.text_embeds(ids.to(dev))
    targets = torch.randint(4, cfg.vocab_size, (B, Nd), generator=g)
    target_mask = torch.arange(Nd)[None, :] < target_len[:, None]
    labels = torch.where(target_mask, targets, torch.full_like(targets, -100))
    decoder_input_ids = torch.cat([torch.full((B, 1), cfg.decoder_start_id), targets[:, :-1]], dim=1)
    decoder_input_ids = torch.where(target_mask, decoder_input_ids, torch.full_like(targets, cfg.pad_id))
    image = image + 0.05 * torch.randn(image.shape, generator=g).to(dev)
    text = text + 0.05 * torch.randn(text.shape, generator=g).to(dev)
    return (image.float(), text.float(), text_mask.to(dev), decoder_input_ids.to(dev), labels.to(dev))


def trace(model, gpu_inputs=True, shape=(2, 5, 7), symbolic=True):
    """make_fx of the vjp function (tools/README.md, "How the vjp graph is exported"), over symbolic shapes or the fixed `shape` (B, Nt, Nd)."""
    inputs = example_inputs(model, *shape, torch.Generator().manual_seed(0))
    if gpu_inputs:
        inputs = to_gpu_inputs(inputs)
    return make_fx(vjp_function(model), decomposition_table=core_aten_decompositions(),
                   tracing_mode="symbolic" if symbolic else "real", _allow_non_fake_inputs=True)(*inputs), inputs


def export(model, path, gpu_inputs=True, fixed_shape=None):
    """Traces and writes vjp.onnx (one file, initializers embedded). The model must be on the CPU, float32.
    Shapes are symbolic (batch, prompt_len, target_len; a session fixes them with onnxruntime's
    freeDimensionOverrides) unless `fixed_shape` = (B, Nt, Nd) is given."""
    if fixed_shape:
        gm, inputs = trace(model, gpu_inputs, fixed_shape, symbolic=False)
        dynamic_shapes = None
    else:
        gm, inputs = trace(model, gpu_inputs)
        B, Nt, Nd = Dim("batch", min=1, max=4096), Dim("prompt_len", min=1, max=4096), Dim("target_len", min=1, max=4096)
        dynamic_shapes = ({0: B}, {0: B, 1: Nt}, {0: B, 1: Nt}, {0: B, 1: Nd}, {0: B, 1: Nd})
    program = torch.onnx.export(gm, inputs, dynamo=True, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                                dynamic_shapes=dynamic_shapes, opset_version=OPSET, external_data=False)
    program.optimize()
    program.save(path, external_data=False)
    return path


def verify(model, path, cases=((1, 3, 4), (2, 5, 7), (4, 10, 24), (3, 16, 12), (8, 1, 1), (5, 7, 9)), tol=2e-5,
           gpu_inputs=True):
    """Runs vjp.onnx in onnxruntime (CPU) and compares loss and gradients with PyTorch autograd on the
    eager model (int64 inputs, gather cross-entropy), float32 and float64. Raises if they differ by more than
    `tol` (relative to the largest gradient entry). Returns the max errors."""
    import copy

    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    f32 = vjp_function(model)
    model64 = copy.deepcopy(model).double()
    f64 = vjp_function(model64)
    worst = {"loss": 0.0, "grad": 0.0, "loss_vs_f64": 0.0, "grad_vs_f64": 0.0, "pad_grad": 0.0}
    g = torch.Generator().manual_seed(1)
    for B, Nt, Nd in cases:
        inputs = example_inputs(model, B, Nt, Nd, g)
        feeds = {name: x.detach().cpu().numpy() for name, x in zip(INPUT_NAMES, to_gpu_inputs(inputs) if gpu_inputs else inputs)}
        onnx_out = session.run(OUTPUT_NAMES, feeds)
        torch_out = [x.detach().cpu().numpy() for x in f32(*inputs)]
        inputs64 = [x.double() if x.is_floating_point() else x for x in inputs]
        torch64 = [x.detach().cpu().numpy() for x in f64(*inputs64)]
        scale = max(np.abs(torch64[1]).max(), np.abs(torch64[2]).max())
        # Our masks and cross-entropy == Hugging Face's 2D masks and labels= loss (float64, loss and gradients).
        hf64 = [x.detach().cpu().numpy() for x in vjp_function(model64, hf=True)(*inputs64)]
        hf_err = max(abs(float(hf64[0]) - float(torch64[0])),
                     max(np.abs(hf64[i] - torch64[i]).max() for i in (1, 2)) / scale)
        assert hf_err < 1e-10, f"loss_from_embeds differs from the Hugging Face loss: {hf_err}"
        errs = {
            "loss": abs(float(onnx_out[0]) - float(torch_out[0])),
            "grad": max(np.abs(onnx_out[i] - torch_out[i]).max() for i in (1, 2)) / scale,
            "loss_vs_f64": abs(float(onnx_out[0]) - float(torch64[0])),
            "grad_vs_f64": max(np.abs(onnx_out[i] - torch64[i]).max() for i in (1, 2)) / scale,
            "pad_grad": float(np.abs(onnx_out[2] * (1 - feeds["text_mask"][:, :, None])).max()) / scale,
        }
        assert onnx_out[1].shape == feeds["image_embeds"].shape and onnx_out[2].shape == feeds["text_embeds"].shape
        print(f"  vjp B={B} Nt={Nt} Nd={Nd}: loss {float(onnx_out[0]):.6f}  |dloss| {errs['loss']:.2e}  "
              f"|dgrad|/max|g| {errs['grad']:.2e}  (vs float64: {errs['loss_vs_f64']:.2e}, "
              f"{errs['grad_vs_f64']:.2e})  max|g| {scale:.2e}  pad |g| {errs['pad_grad']:.1e}")
        for k, v in errs.items():
            worst[k] = max(worst[k], float(v))
    if not (worst["loss"] < tol * 10 and worst["grad"] < tol and worst["grad_vs_f64"] < tol):
        raise AssertionError(f"vjp.onnx differs from PyTorch autograd: {worst}")
    return worst


def onnx_ops(path):
    import onnx
    graph = onnx.load(path)
    ops = {}
    for node in graph.graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        ops[key] = ops.get(key, 0) + 1
    functions = [fn.name for fn in graph.functions]
    opset = {o.domain or "ai.onnx": o.version for o in graph.opset_import}
    return ops, functions, opset
