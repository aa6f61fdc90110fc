"""The adapter file in pure Python (no numpy, no torch): the studio's committed adapter, round trips, and every
malformed case raising the typed error."""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import struct
import subprocess
import tempfile
import unittest
from array import array

from _support import DEFAULT_ADAPTER, FIXTURES, REPO, TOOLS

from adalink_studio import (AdapterError, AdapterFormatError, AdapterUsageError, BaseModelMismatchError,
                            ModalityWeights, parse_hub_id, read_adapter_file, write_adapter_file)
from adalink_studio.safetensors_file import js_json, js_number
from adalink_studio.studio_random import init_wdown

COMMIT_A, COMMIT_B = "a" * 40, "0123456789abcdef0123456789abcdef01234567"


def raw(header: object, data: bytes = b"") -> bytes:
    text = (header if isinstance(header, (str, bytes)) else json.dumps(header))
    body = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(body)) + body + data


def meta(**overrides: str) -> dict:
    m = {"format": "adalink-adapter", "base_model": "tiny-pali-test", "d_model": "4", "modalities": "text"}
    m.update(overrides)
    return {k: v for k, v in m.items() if v is not None}


def tensors(d: int = 4, r: int = 2, dtype: str = "F32", down=None, up=None) -> tuple[dict, bytes]:
    down, up = down or [d, r], up or [r, d]
    n_down, n_up = math.prod(down) * 4, math.prod(up) * 4
    return ({"text.wdown": {"dtype": dtype, "shape": down, "data_offsets": [0, n_down]},
             "text.wup": {"dtype": dtype, "shape": up, "data_offsets": [n_down, n_down + n_up]}},
            bytes(n_down + n_up))


def weights(d: int, r: int, seed: int, modality: str = "text") -> ModalityWeights:
    rng = random.Random(seed)
    return ModalityWeights(modality, r, array("f", (rng.gauss(0, 1) for _ in range(d * r))),
                           array("f", (rng.gauss(0, 1) for _ in range(r * d))))


class CommittedAdapter(unittest.TestCase):
    def test_reads_the_default_models_adapter(self) -> None:
        a = read_adapter_file(DEFAULT_ADAPTER, base_model="pali-scenes-default")
        self.assertEqual((a.base_model, a.d_model, a.modalities, a.steps), ("pali-scenes-default", 256, ("image", "text"), 1000))
        self.assertEqual({m: w.rank for m, w in a.weights.items()}, {"image": 64, "text": 64})
        self.assertEqual(a.metadata["final_loss"], "0.5445951819419861")
        self.assertEqual(a.training_config["optimizer"], "adafactor")
        # The values are the file's bytes at the header's offsets, read here independently.
        with open(DEFAULT_ADAPTER, "rb") as f:
            data = f.read()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        for m in ("image", "text"):
            for part, values in (("wdown", a.weights[m].wdown), ("wup", a.weights[m].wup)):
                begin, end = header[f"{m}.{part}"]["data_offsets"]
                self.assertEqual(list(values), list(struct.unpack(f"<{(end - begin) // 4}f", data[8 + n + begin:8 + n + end])))

    def test_another_model_is_refused_naming_both(self) -> None:
        with self.assertRaises(BaseModelMismatchError) as caught:
            read_adapter_file(DEFAULT_ADAPTER, base_model="tiny-pali-test")
        e = caught.exception
        self.assertIn('"pali-scenes-default"', str(e))
        self.assertIn('"tiny-pali-test"', str(e))
        self.assertIn('Load model "pali-scenes-default"', e.todo)
        self.assertEqual(str(e), f"{e.what} ({e.where}). {e.todo}")
        self.assertEqual((e.adapter_model, e.model), ("pali-scenes-default", "tiny-pali-test"))
        self.assertTrue(e.where.endswith("pali-scenes-default-adapter.safetensors"))

    def test_a_width_that_does_not_fit_is_refused(self) -> None:
        with self.assertRaisesRegex(AdapterFormatError, r"expected \[32, r\] and \[r, 32\]"):
            read_adapter_file(DEFAULT_ADAPTER, d_model=32)


class RoundTrip(unittest.TestCase):
    def test_write_read_is_bit_exact(self) -> None:
        special = [0.0, -0.0, float("inf"), float("-inf"), 1e-45, 3.4028234663852886e38, -1.1754943508222875e-38]
        image, text = weights(6, 3, 1, "image"), weights(6, 2, 2)
        image.wdown[:len(special)] = array("f", special)
        nan = array("f", b"\x01\x00\xc0\x7f")  # a NaN with a payload
        text.wup[0] = nan[0]
        data = write_adapter_file([image, text], f"hub:onnx-community/Florence-2-base-ft@{COMMIT_A}", 6, steps=12,
                                  final_loss=0.25, extra={"name": "my adapter ✓", "task": "caption"})
        back = read_adapter_file(data, base_model=f"hub:onnx-community/Florence-2-base-ft@{COMMIT_A}", d_model=6)
        for m, w in (("image", image), ("text", text)):
            self.assertEqual(back.weights[m].wdown.tobytes(), w.wdown.tobytes())
            self.assertEqual(back.weights[m].wup.tobytes(), w.wup.tobytes())
        self.assertEqual(write_adapter_file(back.weights, back.base_model, 6, steps=12, final_loss=0.25,
                                            extra={"name": "my adapter ✓", "task": "caption"}), data)

    def test_header_and_metadata_are_the_studios(self) -> None:
        data = write_adapter_file([weights(4, 2, 3, "image")], "tiny-pali-test", 4, steps=7, final_loss=2.0,
                                  training_config={"lr": 1e-7, "clip": 1.0}, extra={"dataset": "x"})
        (n,) = struct.unpack("<Q", data[:8])
        self.assertEqual((8 + n) % 8, 0)
        text = data[8:8 + n].decode().rstrip(" ")
        self.assertEqual(text, '{"__metadata__":{"format":"adalink-adapter","base_model":"tiny-pali-test","d_model":"4",'
                         '"modalities":"image","rank.image":"2","steps":"7","final_loss":"2",'
                         '"training_config":"{\\"lr\\":1e-7,\\"clip\\":1}","dataset":"x"},'
                         '"image.wdown":{"dtype":"F32","shape":[4,2],"data_offsets":[0,32]},'
                         '"image.wup":{"dtype":"F32","shape":[2,4],"data_offsets":[32,64]}}')
        self.assertEqual(len(data), 8 + n + 64)

    def test_the_studios_own_writer_gives_the_same_bytes(self) -> None:
        """src/formats/adapterFile.ts (through tsx) reads a file written here and writes it again: same bytes."""
        tsx = os.path.join(REPO, "node_modules", ".bin", "tsx")
        if not os.path.exists(tsx) or shutil.which("node") is None:
            self.skipTest("node and the repository's node_modules (tsx) are not installed")
        config = {"modalities": ["image", "text"], "rank": {"image": 3, "text": 2}, "learningRate": 0.03, "seed": 1}
        data = write_adapter_file([weights(5, 3, 4, "image"), weights(5, 2, 5)], "tiny-pali-test", 5, steps=3,
                                  final_loss=1.0000000000000002e-7, training_config=config, extra={"name": "n\u2028\x01é"})
        with tempfile.TemporaryDirectory() as tmp:
            path, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
            with open(path, "wb") as f:
                f.write(data)
            run = subprocess.run([tsx, os.path.join("python", "tests", "studio_rewrite.ts"), path, out, "tiny-pali-test",
                                  "5"], cwd=REPO, capture_output=True, text=True, timeout=120)
            self.assertEqual(run.returncode, 0, run.stderr[-2000:])
            with open(out, "rb") as f:
                self.assertEqual(f.read(), data)


class Malformed(unittest.TestCase):
    def refused(self, data: bytes, pattern: str, error: type = AdapterFormatError, **kw: object) -> AdapterError:
        with self.assertRaisesRegex(error, pattern) as caught:
            read_adapter_file(data, where="bad.safetensors", **kw)  # type: ignore[arg-type]
        e = caught.exception
        self.assertEqual(e.where, "bad.safetensors")
        self.assertTrue(e.what and e.todo and str(e) == f"{e.what} (bad.safetensors). {e.todo}")
        return e

    def test_damaged_safetensors(self) -> None:
        header, data = tensors()
        ok = {"__metadata__": meta(), **header}
        self.refused(b"\x01\x02", "shorter than the 8-byte header length")
        self.refused(struct.pack("<Q", 2 ** 40), "over the limit")
        self.refused(struct.pack("<Q", 100) + b"{}", "runs past the end")
        self.refused(raw(b"\xff\xfe{}"), "not UTF-8 JSON")
        self.refused(raw("{not json"), "not UTF-8 JSON")
        self.refused(raw('{"a": NaN}'), "not UTF-8 JSON")
        self.refused(raw("[1, 2]"), "not a JSON object")
        text = json.dumps(ok)
        self.refused(raw(text[:-1] + ', "text.wup": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', data),
                     "names a tensor twice")
        self.refused(raw({"__metadata__": [1]}), "__metadata__ is not an object")
        self.refused(raw({"__metadata__": {"steps": 3}}), "__metadata__.steps is not a string")
        for entry, pattern in (({"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}, "unknown dtype"),
                               ({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}, "invalid shape"),
                               ({"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}, "invalid shape"),
                               ({"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}, "invalid shape"),
                               ({"dtype": "F32", "shape": [1], "data_offsets": [0]}, "invalid data_offsets"),
                               ({"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}, r"spans bytes \[4, 0\)"),
                               ({"dtype": "F32", "shape": [1], "data_offsets": [0, 400]}, "outside the 64 data bytes"),
                               ({"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}, "needs 12 bytes but spans 8"),
                               ({"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}, "overlap"),
                               ("x", "unknown dtype")):
            self.refused(raw({**ok, "extra": entry}, data), pattern)

    def test_not_a_fitting_adapter(self) -> None:
        header, data = tensors()
        self.refused(raw(header, data), "no format=adalink-adapter")
        self.refused(raw({"__metadata__": meta(format="other"), **header}, data), "no format=adalink-adapter")
        self.refused(raw({"__metadata__": meta(base_model=None), **header}, data), "names no base model")
        self.refused(raw({"__metadata__": meta(d_model="four"), **header}, data), "d_model metadata")
        for modalities in ("audio", "text,text", "image,text,image"):
            self.refused(raw({"__metadata__": meta(modalities=modalities), **header}, data), "once each")
        self.refused(raw({"__metadata__": meta(modalities=""), **header}, data), "names no modality")
        self.refused(raw({"__metadata__": meta(modalities="image,text"), **header}, data), 'no tensor named "image.wdown"')
        self.refused(raw({"__metadata__": meta(), **tensors(dtype="I32")[0]}, data), "is I32, expected F32")
        for down, up in (([2, 4], [4, 2]), ([4, 2], [2, 3]), ([4, 2], [3, 4]), ([4, 0], [0, 4]), ([8], [8])):
            h, d = tensors(down=down, up=up)
            self.refused(raw({"__metadata__": meta(), **h}, d), r"expected \[4, r\] and \[r, 4\]")
        e = self.refused(raw({"__metadata__": meta(), **header}, data), "trained for model", BaseModelMismatchError,
                         base_model="pali-scenes-default")
        self.assertIn('"tiny-pali-test"', e.what)
        self.assertIn('"pali-scenes-default"', e.what)

    def test_another_commit_of_the_same_hub_repository(self) -> None:
        header, data = tensors()
        adapter = f"hub:onnx-community/Florence-2-base-ft@{COMMIT_A}"
        e = self.refused(raw({"__metadata__": meta(base_model=adapter), **header}, data), "trained for model",
                         BaseModelMismatchError, base_model=f"hub:onnx-community/Florence-2-base-ft@{COMMIT_B}")
        self.assertIn("another commit", e.todo)
        e = self.refused(raw({"__metadata__": meta(base_model=adapter), **header}, data), "trained for model",
                         BaseModelMismatchError, base_model=adapter + ":fp16")
        self.assertIn("another variant", e.todo)
        self.assertEqual(parse_hub_id(adapter + ":fp16"), ("onnx-community/Florence-2-base-ft", COMMIT_A, True))
        self.assertIsNone(parse_hub_id("hub:onnx-community/Florence-2-base-ft@main"))

    def test_writing_refuses_what_the_format_cannot_hold(self) -> None:
        w = weights(4, 2, 0)
        for items, base_model, d, pattern in (([w], "", 4, "base_model is empty"),
                                              ([w], "x", 0, "not a positive integer"),
                                              ([w, w], "x", 4, "once each"),
                                              ([], "x", 4, "once each"),
                                              ([ModalityWeights("audio", 2, w.wdown, w.wup)], "x", 4, "once each"),
                                              ([w], "x", 5, "expected 5·r and r·5")):
            with self.assertRaisesRegex(AdapterUsageError, pattern):
                write_adapter_file(items, base_model, d)
        with self.assertRaisesRegex(AdapterUsageError, "format owns"):
            write_adapter_file([w], "x", 4, extra={"base_model": "y"})
        with self.assertRaisesRegex(AdapterUsageError, "not a JSON object"):
            write_adapter_file([w], "x", 4, training_config="[1]")


class StudioNumbersAndRandomness(unittest.TestCase):
    def test_numbers_print_as_javascript_prints_them(self) -> None:
        cases = {1e-7: "1e-7", 1e-6: "0.000001", 2.0: "2", 1e21: "1e+21", 1e20: "100000000000000000000", -0.5: "-0.5",
                 0.1 + 0.2: "0.30000000000000004", 5e-324: "5e-324", 123456789.125: "123456789.125", -0.0: "0"}
        for x, text in cases.items():
            self.assertEqual(js_number(x), text, x)
        self.assertEqual(js_json({"b": [1, 2.5, None, True, "é\n\ud800"], "10": {}, "2": 0}),
                         '{"2":0,"10":{},"b":[1,2.5,null,true,"é\\n\\ud800"]}')

    def test_init_is_the_studios(self) -> None:
        with open(os.path.join(TOOLS, "tests", "random_vectors.json")) as f:
            vectors = json.load(f)
        self.assertEqual(list(init_wdown(7, "image", 32, 8)[:8]), vectors["wdownImage(seed=7,d=32,r=8)[0:8] float32"])
        with open(os.path.join(FIXTURES, "reference-adamw.json")) as f:
            fixture = json.load(f)
        rank, seed = fixture["config"]["rank"], fixture["config"]["seed"]
        for m in ("image", "text"):
            want = array("f", fixture["init"][f"wdown_{m}"])
            self.assertEqual(init_wdown(seed, m, 32, rank[m]).tobytes(), want.tobytes())


if __name__ == "__main__":
    unittest.main()
