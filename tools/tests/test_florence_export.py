"""The Florence-2 exporter on variants of the tiny config that the committed package does not cover, into a
temporary folder (nothing in the repository changes): every check of adalink/florence.export_package
(vision, vjp vs autograd in float32 and float64, generation graphs, greedy token for token, the processor's
path) must pass.

  - scaled embeddings (`scale_embedding=True`: the lookup multiplies by sqrt(d_model), so the embedding table
    of the package, the encoder's inputs and the decoder's embeddings must all carry the scale);
  - Florence-2's four DaViT stages on 64x64 images (strides 4, 2, 2, 2 -> 2x2 + 1 = 5 image tokens) with
    windows that do not divide the feature maps (the window attention pads).

    cd tools && PYTHONPATH=. python3 tests/test_florence_export.py      # about 4 minutes on one CPU core
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/

import torch  # noqa: E402

from adalink import dataset as D  # noqa: E402
from adalink import florence as FL  # noqa: E402
from adalink.tokenizer import train_tokenizer  # noqa: E402

VARIANTS = {
    "scaled embeddings": dict(text=dict(FL.TINY_TEXT, scale_embedding=True)),
    "four stages, padded windows": dict(
        image_size=64,
        vision=dict(FL.TINY_VISION, depths=[1, 1, 1, 1], patch_size=[7, 3, 3, 3], patch_stride=[4, 2, 2, 2],
                    patch_padding=[3, 1, 1, 1], patch_prenorm=[False, True, True, True], embed_dim=[8, 16, 16, 32],
                    num_heads=[1, 2, 2, 4], num_groups=[1, 2, 2, 4], window_size=3)),
}


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = train_tokenizer(D.all_caption_texts(), 340, FL.BART_SPECIAL_TOKENS)
        tokenizer_path = os.path.join(tmp, "tokenizer.json")
        tokenizer.save(tokenizer_path)
        for name, variant in VARIANTS.items():
            print(f"=== {name}", flush=True)
            model = FL.tiny_florence(tokenizer.get_vocab_size(), tokenizer.token_to_id("<image>"),
                                     image_size=variant.get("image_size", FL.TINY_IMAGE_SIZE),
                                     text=variant.get("text", FL.TINY_TEXT),
                                     vision=variant.get("vision", FL.TINY_VISION))
            scale = model.bart.get_input_embeddings().embed_scale
            assert torch.equal(model.embed_tokens, model.bart.get_input_embeddings().weight * scale)
            out = os.path.join(tmp, name.replace(" ", "-").replace(",", ""))
            errors = FL.export_package(model, out, tokenizer_path, "variant", name, FL.IMAGENET_MEAN, FL.IMAGENET_STD,
                                       D.PROMPT, 16, 24, model.bart.config.image_token_id)
            print(f"=== {name}: embed scale {float(scale):.3f}, {model.cfg.image_tokens} image tokens; errors {errors}")
    print("OK")


if __name__ == "__main__":
    main()
