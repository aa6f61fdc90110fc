/**
 * The ONNX writer: OnnxModel (onnxModel.ts) → the bytes of a serialized ModelProto, field numbers as in
 * onnx.proto3, fields in field-number order as protobuf's own serializers write them.
 *
 * One pass of the same code measures the model (the byte size of every embedded message, in the order they
 * start); a second writes it into one Uint8Array of exactly that size, so a model of a gigabyte of weights costs
 * that gigabyte once more and every tensor's bytes are copied once. Numeric tensors go out as raw_data
 * (little-endian), string tensors as string_data, a tensor without values as the external reference it holds.
 */
import type { OnnxAttribute, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnxModel.ts';
import { DATA_TYPE_NUMBER, LITTLE_ENDIAN, VALUES_CLASS } from './onnxRead.ts';

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;
const utf8 = new TextEncoder();

/** UTF-8 bytes of `text` as TextEncoder writes them (a lone surrogate becomes U+FFFD, 3 bytes). */
function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) length += 1;
    else if (code >= 0xd800 && code < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { length += 2; i++; }
    else length += 2;
  }
  return length;
}

/** Protobuf output: measuring while `out` is undefined (`pos` counts), then writing into `out`. */
class Encoder {
  pos = 0;
  out?: Uint8Array;
  private view?: DataView;
  /** Each embedded message's size, in the order the messages start. */
  private sizes: number[] = [];
  private next = 0;

  /** Turns a measured encoder into a writing one, over a buffer of the measured size. */
  startWriting(): void {
    this.out = new Uint8Array(this.pos);
    this.view = new DataView(this.out.buffer);
    this.pos = 0;
  }

  byte(value: number): void {
    if (this.out) this.out[this.pos] = value;
    this.pos++;
  }

  /** A varint of the unsigned 64-bit value hi·2^32 + lo. */
  varint64(lo: number, hi: number): void {
    while (hi !== 0 || lo >= 0x80) {
      this.byte((lo & 0x7f) | 0x80);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.byte(lo);
  }

  /** An int64 (negative: ten bytes); beyond ±2^63 saturates, so ±2^63 read from INT64_MAX/MIN writes them back. */
  int64(value: number): void {
    if (value >= 0 && value < 0x80000000) return this.varint64(value, 0);
    if (!Number.isInteger(value)) throw new RangeError(`ONNX writer: ${value} is not an integer`);
    if (value >= 2 ** 63) return this.varint64(0xffffffff, 0x7fffffff);
    if (value <= -(2 ** 63)) return this.varint64(0, 0x80000000);
    const hi = Math.floor(value / 2 ** 32);
    this.varint64(value - hi * 2 ** 32, hi >>> 0);
  }

  tag(field: number, wire: number): void {
    this.int64(field * 8 + wire);
  }

  int(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.int64(value);
  }

  float32(value: number): void {
    this.view?.setFloat32(this.pos, value, true);
    this.pos += 4;
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.float32(value);
  }

  string(field: number, value: string): void {
    const length = utf8Length(value);
    this.tag(field, WIRE_BYTES);
    this.int64(length);
    const out = this.out;
    if (out && length === value.length) {
      for (let i = 0; i < length; i++) out[this.pos + i] = value.charCodeAt(i); // ASCII, as names are
    } else if (out) {
      utf8.encodeInto(value, out.subarray(this.pos, this.pos + length));
    }
    this.pos += length;
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_BYTES);
    this.int64(value.length);
    this.out?.set(value, this.pos);
    this.pos += value.length;
  }

  /** An embedded message whose fields `body` writes. */
  message(field: number, body: () => void): void {
    this.tag(field, WIRE_BYTES);
    if (this.out) {
      this.int64(this.sizes[this.next++]);
      body();
      return;
    }
    const slot = this.sizes.push(0) - 1;
    const start = this.pos;
    body();
    this.sizes[slot] = this.pos - start;
    this.int64(this.sizes[slot]);
  }

  /** A repeated int64 field, packed. */
  ints(field: number, values: readonly number[]): void {
    if (values.length > 0) this.message(field, () => values.forEach((v) => this.int64(v)));
  }
}

/** StringStringEntryProto { key = 1, value = 2 } */
function writeEntry(e: Encoder, field: number, key: string, value: string): void {
  e.message(field, () => { e.string(1, key); e.string(2, value); });
}

/** TensorProto { dims = 1, data_type = 2, string_data = 6, name = 8, raw_data = 9, external_data = 13, data_location = 14 } */
function writeTensor(e: Encoder, tensor: OnnxTensor): void {
  const { name, dataType, dims, values, external } = tensor;
  e.ints(1, dims);
  e.int(2, DATA_TYPE_NUMBER[dataType]);
  const count = dims.reduce((a, b) => a * b, 1);
  if (values && values.length !== count) throw new RangeError(`ONNX writer: tensor "${name}" has ${values.length} values, its dims [${dims}] say ${count}`);
  if (dataType === 'string' && values) {
    if (!Array.isArray(values)) throw new TypeError(`ONNX writer: string tensor "${name}" holds a typed array`);
    for (const s of values) e.string(6, s);
  }
  if (name) e.string(8, name);
  if (dataType !== 'string' && values) {
    if (!(values instanceof VALUES_CLASS[dataType])) throw new TypeError(`ONNX writer: ${dataType} tensor "${name}" holds a ${values.constructor.name}`);
    if (!LITTLE_ENDIAN) throw new Error('ONNX writer: big-endian machines are not supported');
    e.bytes(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  } else if (!values) {
    if (!external) throw new TypeError(`ONNX writer: tensor "${name}" has neither values nor external data`);
    writeEntry(e, 13, 'location', external.location);
    writeEntry(e, 13, 'offset', String(external.offset));
    writeEntry(e, 13, 'length', String(external.length));
    e.int(14, 1); // data_location = EXTERNAL
  }
}

/** ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 | dim_param = 2 } } } } } */
function writeValueInfo(e: Encoder, field: number, info: OnnxValueInfo): void {
  e.message(field, () => {
    e.string(1, info.name);
    e.message(2, () => e.message(1, () => {
      e.int(1, DATA_TYPE_NUMBER[info.dataType]);
      if (info.shape) {
        e.message(2, () => info.shape?.forEach((dim) => e.message(1, () => {
          if (typeof dim === 'number') e.int(1, dim);
          else if (typeof dim === 'string') e.string(2, dim);
        })));
      }
    }));
  });
}

/** AttributeType numbers. */
const ATTRIBUTE_TYPE: Record<OnnxAttribute['type'], number> = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7, strings: 8 };

/** AttributeProto { name = 1, f = 2, i = 3, s = 4, t = 5, g = 6, floats = 7, ints = 8, strings = 9, type = 20 } */
function writeAttribute(e: Encoder, name: string, attribute: OnnxAttribute): void {
  e.message(5, () => {
    e.string(1, name);
    switch (attribute.type) {
      case 'float': e.float(2, attribute.value); break;
      case 'int': e.int(3, attribute.value); break;
      case 'string': e.string(4, attribute.value); break;
      case 'tensor': e.message(5, () => writeTensor(e, attribute.value)); break;
      case 'graph': e.message(6, () => writeGraph(e, attribute.value)); break;
      case 'floats': {
        const floats = attribute.value;
        if (floats.length > 0) e.message(7, () => floats.forEach((f) => e.float32(f)));
        break;
      }
      case 'ints': e.ints(8, attribute.value); break;
      case 'strings': for (const s of attribute.value) e.string(9, s); break;
    }
    e.int(20, ATTRIBUTE_TYPE[attribute.type]);
  });
}

/** NodeProto { input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7 } */
function writeNode(e: Encoder, node: OnnxNode): void {
  for (const input of node.inputs) e.string(1, input);
  for (const output of node.outputs) e.string(2, output);
  if (node.name) e.string(3, node.name);
  e.string(4, node.opType);
  for (const [name, attribute] of Object.entries(node.attributes)) writeAttribute(e, name, attribute);
  if (node.domain) e.string(7, node.domain);
}

/** GraphProto { node = 1, name = 2, initializer = 5, input = 11, output = 12, value_info = 13 } */
function writeGraph(e: Encoder, graph: OnnxGraph): void {
  for (const node of graph.nodes) e.message(1, () => writeNode(e, node));
  if (graph.name) e.string(2, graph.name);
  for (const tensor of graph.initializers) e.message(5, () => writeTensor(e, tensor));
  for (const input of graph.inputs) writeValueInfo(e, 11, input);
  for (const output of graph.outputs) writeValueInfo(e, 12, output);
  for (const info of graph.valueInfo) writeValueInfo(e, 13, info);
}

/** ModelProto { ir_version = 1, producer_name = 2, producer_version = 3, graph = 7, opset_import = 8, metadata_props = 14 } */
function writeModel(e: Encoder, model: OnnxModel): void {
  e.int(1, model.irVersion);
  if (model.producerName) e.string(2, model.producerName);
  if (model.producerVersion) e.string(3, model.producerVersion);
  e.message(7, () => writeGraph(e, model.graph));
  for (const { domain, version } of model.opsets) e.message(8, () => { e.string(1, domain); e.int(2, version); });
  for (const [key, value] of Object.entries(model.metadata)) writeEntry(e, 14, key, value);
}

/** The serialized ModelProto. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const e = new Encoder();
  writeModel(e, model);
  const size = e.pos;
  e.startWriting();
  writeModel(e, model);
  if (e.pos !== size) throw new Error(`ONNX writer: wrote ${e.pos} bytes of the ${size} measured (the model changed while it was written?)`);
  return e.out as Uint8Array;
}
