"""The PyTorch checkpoint of a project model (tools/adalink/model.py), rebuilt from its package's ONNX graphs.

The default model's checkpoint (`tools/checkpoints/pali-scenes-default/model.safetensors`) is not in git, but
its package is, and the package's graphs hold every weight, float16-exact: `vision.onnx` the ViT, `encoder.onnx`
and `decoder_init.onnx` BART, `text_embeddings.safetensors` the shared embedding table. This reads them back
into a PaliModel built from the checkpoint folder's `config.json`, checks that it computes what the package
computes (vision.onnx and vjp.onnx in onnxruntime against PyTorch), and writes `model.safetensors` there — so
that the PyTorch side of the benchmarks (tools/bench_train_step.py) and references run from a fresh clone:

    python3 tools/checkpoint_from_package.py        # default: the bundled default model

How weights are named in the graphs (torch.onnx.export, dynamo): parameters keep their module path as the
initializer's name (`bart.model.encoder.layers.0.fc1.bias`; `model.` in front in vision.onnx, whose wrapper
holds the model as `.model`), with `__f16` appended where export.store_float16 stored them as float16 (a Cast
back to float32 follows). Linear weights were folded into transposed constants (`val_123`) that feed a MatMul;
the Add after that MatMul adds the layer's bias, whose name gives the weight's: `<layer>.bias` → `<layer>.weight`.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/, for the adalink package

GRAPHS = ("vision.onnx", "encoder.onnx", "decoder_init.onnx")
F16_SUFFIX = "__f16"


def graph_weights(path, prefix=""):
    """{state_dict name: float32 array} of one ONNX graph: named initializers as they are, MatMul constants
    transposed and named after the bias added to their product. `prefix` is dropped from every name."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    values = {init.name: numpy_helper.to_array(init).astype(np.float32) for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def source(name):
        """The initializer behind `name`, through a Cast (store_float16's float16 → float32), else None."""
        node = producer.get(name)
        if node is not None and node.op_type == "Cast":
            name = node.input[0]
        return name if name in values else None

    def state_name(init_name):
        name = init_name[:-len(F16_SUFFIX)] if init_name.endswith(F16_SUFFIX) else init_name
        return name[len(prefix):] if name.startswith(prefix) else name

    weights = {}
    for name, value in values.items():
        if not name.startswith("val_") and not name.startswith("_"):
            weights[state_name(name)] = value
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        constant = source(node.input[1])
        if constant is None or not constant.startswith("val_") or values[constant].ndim != 2:
            continue
        adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"]
        biases = sorted({b for n in adds for b in map(source, n.input) if b and state_name(b).endswith(".bias")})
        if len(biases) != 1:
            raise SystemExit(f"{os.path.basename(path)}: the MatMul with {constant} is not followed by one bias "
                             f"Add (found {biases}); the graph is not an export of this project's model")
        weights[state_name(biases[0])[:-len(".bias")] + ".weight"] = values[constant].T.copy()
    return weights


def rebuild(package, checkpoint):
    """A PaliModel with the package's weights (every parameter set, the tied ones from the embedding table)."""
    import torch
    from safetensors.numpy import load_file

    from adalink.model import ModelConfig, PaliModel
    cfg = ModelConfig.load(os.path.join(checkpoint, "config.json"))
    model = PaliModel(cfg)
    expected = model.state_dict()
    found = {}
    for graph in GRAPHS:
        for name, value in graph_weights(os.path.join(package, graph), "model." if graph == "vision.onnx" else "").items():
            if name in expected and tuple(expected[name].shape) == value.shape:
                if name in found and not np.array_equal(found[name], value):
                    raise SystemExit(f"{name} differs between the package's graphs")
                found[name] = value
    with open(os.path.join(package, "manifest.json")) as f:
        manifest = json.load(f)
    table = manifest["files"]["text_embeddings"]
    found["bart.model.shared.weight"] = load_file(os.path.join(package, table["path"]))[table["tensor"]].astype(np.float32)
    # The tied aliases of the shared table: one tensor in the model.
    tied = {"bart.model.encoder.embed_tokens.weight", "bart.model.decoder.embed_tokens.weight", "bart.lm_head.weight"}
    if "bart.lm_head.weight" in found and not np.array_equal(found["bart.lm_head.weight"], found["bart.model.shared.weight"]):
        raise SystemExit("the decoder's output projection differs from the embedding table: not a tied model")
    # Buffers that no graph carries as a named tensor keep their constructed values (zeros / ranges).
    buffers = {name for name, _ in model.named_buffers()}
    missing = sorted(set(expected) - set(found) - tied - buffers)
    if missing:
        raise SystemExit(f"the package's graphs lack {len(missing)} weights, e.g. {missing[:5]}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in found.items() if k not in tied}, strict=False)
    model.requires_grad_(False)
    return model.eval(), manifest


def check(model, package, manifest):
    """vision.onnx and vjp.onnx (onnxruntime, CPU) against the rebuilt model in PyTorch."""
    import onnxruntime as ort
    import torch

    from adalink import vjp
    cfg = model.cfg
    pixels = torch.randn(2, 3, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0))
    vision = ort.InferenceSession(os.path.join(package, manifest["files"]["vision"]["path"]), providers=["CPUExecutionProvider"])
    ours = vision.run(None, {vision.get_inputs()[0].name: pixels.numpy()})[0]
    theirs = model.image_embeds(pixels).detach().numpy()
    vision_error = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    print(f"vision.onnx vs the rebuilt ViT: max |difference| / max |value| = {vision_error:.2e}")
    if vision_error > 1e-5:
        raise SystemExit("the rebuilt ViT does not compute what vision.onnx computes")
    gpu_inputs = manifest["files"]["vjp"].get("input_types") is not None
    errors = vjp.verify(model, os.path.join(package, manifest["files"]["vjp"]["path"]), cases=((2, 3, 8), (3, 5, 16)),
                        gpu_inputs=gpu_inputs)
    print(f"vjp.onnx vs the rebuilt model's autograd: {errors}")


def write(package, checkpoint):
    """Rebuilds, checks and writes `<checkpoint>/model.safetensors` (float16, exact)."""
    from adalink.model import save_checkpoint
    model, manifest = rebuild(package, checkpoint)
    check(model, package, manifest)
    save_checkpoint(model, checkpoint, float16=True)
    print(f"wrote {os.path.join(checkpoint, 'model.safetensors')}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", default="public/models/pali-scenes-default")
    p.add_argument("--checkpoint", default="tools/checkpoints/pali-scenes-default",
                   help="folder with the model's config.json; model.safetensors is written there")
    args = p.parse_args()
    write(args.package, args.checkpoint)


if __name__ == "__main__":
    main()
