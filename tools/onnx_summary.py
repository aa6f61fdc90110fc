"""Facts about ONNX files as the onnx package reads them, for src/formats/onnx.test.ts to check its reader with.

    /usr/bin/python3 tools/onnx_summary.py $(git ls-files '*.onnx') > src/formats/testing/onnxSummary.json

Debian's python3-onnx (1.12; `apt-get install python3-onnx`) is enough. Per file: the model's header fields, op
counts, graph inputs and outputs, every initializer (name, type, dims, SHA-256 of its elements' little-endian
bytes), and SHA-256 digests of every node (op, domain, name, inputs, outputs, attributes with their values) and
of value_info, in canonical text that the test writes the same way (float attributes as their float32 bits).
"""
import collections
import hashlib
import json
import struct
import sys

import onnx
from onnx import numpy_helper

# TensorProto.DataType → OnnxDataType (src/formats/onnxModel.ts)
DTYPE = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
         9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}
A = onnx.AttributeProto


def sha(text):
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def tensor_digest(t):
    return f"{DTYPE[t.data_type]}[{','.join(map(str, t.dims))}]{sha(numpy_helper.to_array(t).tobytes())[:16]}"


def f32(x):
    return struct.pack("<f", x).hex()


def attribute_text(a):
    value = {
        A.FLOAT: lambda: f32(a.f),
        A.INT: lambda: str(a.i),
        A.STRING: lambda: a.s.hex(),
        A.TENSOR: lambda: tensor_digest(a.t),
        A.GRAPH: lambda: nodes_digest(a.g),
        A.FLOATS: lambda: ",".join(map(f32, a.floats)),
        A.INTS: lambda: ",".join(map(str, a.ints)),
        A.STRINGS: lambda: ",".join(s.hex() for s in a.strings),
    }[a.type]()
    return f"{a.name}:{a.type}={value}"


def nodes_digest(graph):
    """One line per node: op|domain|name|inputs|outputs|attributes sorted by name."""
    lines = []
    for n in graph.node:
        attributes = ";".join(attribute_text(a) for a in sorted(n.attribute, key=lambda a: a.name))
        lines.append(f"{n.op_type}|{n.domain}|{n.name}|{','.join(n.input)}|{','.join(n.output)}|{attributes}")
    return sha("\n".join(lines))


def value_info(v):
    tensor = v.type.tensor_type
    shape = None
    if tensor.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else d.dim_param if d.HasField("dim_param") else None
                 for d in tensor.shape.dim]
    return {"name": v.name, "dataType": DTYPE[tensor.elem_type], "shape": shape}


def summary(path):
    m = onnx.load(path)
    g = m.graph
    return {
        "irVersion": m.ir_version,
        "producerName": m.producer_name,
        "producerVersion": m.producer_version,
        "opsets": [{"domain": o.domain, "version": o.version} for o in m.opset_import],
        "metadata": {p.key: p.value for p in m.metadata_props},
        "graphName": g.name,
        "opCounts": dict(sorted(collections.Counter(n.op_type for n in g.node).items())),
        "attributeTypes": dict(sorted(collections.Counter(
            A.AttributeType.Name(a.type) for n in g.node for a in n.attribute).items())),
        "inputs": [value_info(v) for v in g.input],
        "outputs": [value_info(v) for v in g.output],
        "valueInfoCount": len(g.value_info),
        "valueInfoSha256": sha("\n".join(json.dumps(value_info(v), separators=(",", ":")) for v in g.value_info)),
        "nodesSha256": nodes_digest(g),
        "initializers": [tensor_digest(t) + " " + t.name for t in g.initializer],
    }


if __name__ == "__main__":
    # One line per fact: readable in a diff, a tenth of the size of indented JSON.
    files = []
    for path in sys.argv[1:]:
        facts = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in summary(path).items())
        files.append(f"{json.dumps(path)}: {{\n{facts}\n }}")
    sys.stdout.write("{\n " + ",\n ".join(files) + "\n}\n")
