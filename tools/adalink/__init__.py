"""AdaLink Studio's Python side: the exporter of model packages and the reference trainer.

One idea per module, each readable top to bottom:

    random.py          the deterministic RNG of docs/ENGINE.md §3 (shared with TypeScript and WGSL)
    dataset.py         a tiny procedural image-caption dataset (Hugging Face imagefolder)
    tokenizer.py       a byte-level BPE tokenizer.json trained on the dataset's text
    model.py           the PaLI-style model: tiny ViT -> image tokens, concat prompt tokens -> BART
    vjp.py             the vjp graph (loss, dL/dE_image, dL/dE_text) traced and exported to ONNX
    generation.py      the generation graphs (encoder, decoder_init, decoder_step) and greedy decoding
    export.py          writes a model package (manifest.json + ONNX + embeddings + tokenizer)
    reference_train.py the PyTorch reference AdaLink trainer that writes e2e fixtures
    reference_greedy.py the greedy-decoding reference fixture
    scenes.py          procedural multi-task scenes of the default model, and the demo dataset
    cider.py           CIDEr-D as the COCO caption scorer computes it

Run the command-line tools from the `tools/` folder (`python3 -m adalink.export ...`) or through the
scripts in `tools/`; never as `python3 tools/adalink/x.py` (that would put this folder on sys.path and
`random.py` would shadow the standard library's `random`).
"""
