/**
 * The ONNX reader and writer (onnx.ts): random models of every attribute and data type, nested `If` graphs,
 * external tensors and symbolic dims round-trip exactly; every graph committed in the repo reads as Python's onnx
 * package reads it (src/formats/testing/onnxSummary.json, written by tools/onnx_summary.py); graphs re-encoded
 * by us run in onnxruntime-web to bitwise the same outputs as the exported files; damaged or unsupported files
 * are refused with a FormatError that says where.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { installNodeWebGpu } from '../cli/nodeGpu.ts';
import { createSession, hostTensor, type OrtTensor } from '../engine/onnxRuntime.ts';
import { FormatError } from '../errors.ts';
import { DATA_TYPE_NUMBER, encodeOnnxModel, readOnnxModel, tensorFromValues, VALUES_CLASS } from './onnx.ts';
import type { OnnxAttribute, OnnxDataType, OnnxDim, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnxModel.ts';
import { writeOnnxModel } from './onnxWriter.ts';
import { SHARED_WEIGHTS_FILE } from './sharedWeights.ts';

const DATA_TYPES = Object.keys(DATA_TYPE_NUMBER) as OnnxDataType[];

/** The bytes of a tensor's elements as they are in memory (little-endian), or its strings' UTF-8. */
function elementBytes(tensor: OnnxTensor): Uint8Array {
  const { values } = tensor;
  if (!values) return new Uint8Array(0);
  if (Array.isArray(values)) return new TextEncoder().encode(values.join('\0'));
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** `value` with each typed array replaced by its class and length, its bytes pushed on `bytes` (in order). */
function skeleton(value: unknown, bytes: Uint8Array[]): unknown {
  if (ArrayBuffer.isView(value)) {
    bytes.push(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    return { [value.constructor.name]: value.byteLength };
  }
  if (Array.isArray(value)) return value.map((v) => skeleton(v, bytes));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, skeleton(v, bytes)]));
  return value;
}

/**
 * expect(actual).toEqual(expected) for a model, its tensors' values compared as bytes (every bit, and the typed
 * array's class and length) instead of number by number: the default model's millions of weights take toEqual
 * about 40 s on two cores, a byte comparison a few milliseconds.
 */
function expectSameModel(actual: OnnxModel, expected: OnnxModel): void {
  const [got, want]: Uint8Array[][] = [[], []];
  expect(skeleton(actual, got)).toEqual(skeleton(expected, want));
  expect(got.length).toBe(want.length);
  want.forEach((bytes, i) => expect(Buffer.compare(got[i], bytes), `typed array ${i}`).toBe(0));
}

/** Every tensor of a graph and its sub-graphs: initializers and tensor attributes. */
function allTensors(graph: OnnxGraph): OnnxTensor[] {
  return [...graph.initializers, ...graph.nodes.flatMap((n) => Object.values(n.attributes).flatMap((a) =>
    a.type === 'tensor' ? [a.value] : a.type === 'graph' ? allTensors(a.value) : []))];
}

/** A record with these entries, `__proto__` included as an own key. */
function record<T>(entries: Array<[string, T]>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [key, value] of entries) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Random models

const name = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.constantFrom('', '__proto__', 'constructor', 'x.y/z:0'));
const int64 = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.maxSafeInteger(), fc.constantFrom(2 ** 63, -(2 ** 63), 2 ** 53));

function tensorArbitrary(external: boolean): fc.Arbitrary<OnnxTensor> {
  return fc.record({ name, dataType: fc.constantFrom(...DATA_TYPES), dims: fc.array(fc.nat({ max: 4 }), { maxLength: 3 }) })
    .chain(({ name, dataType, dims }) => {
      const count = dims.reduce((a, b) => a * b, 1);
      if (dataType === 'string') {
        return fc.array(fc.string({ unit: 'grapheme', maxLength: 5 }), { minLength: count, maxLength: count })
          .map((values): OnnxTensor => ({ name, dataType, dims, values }));
      }
      const Values = VALUES_CLASS[dataType];
      // Any bytes: every float bit pattern (NaN payloads, -0, subnormals), bool as 0/1.
      const bytes = dataType === 'bool' ? fc.uint8Array({ max: 1, minLength: count, maxLength: count })
        : fc.uint8Array({ minLength: count * Values.BYTES_PER_ELEMENT, maxLength: count * Values.BYTES_PER_ELEMENT });
      const inline = bytes.map((b): OnnxTensor => ({ name, dataType, dims, values: new Values(b.slice().buffer) }));
      if (!external) return inline;
      const location = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
      return fc.oneof(inline, fc.record({ location, offset: fc.nat() }).map(({ location, offset }): OnnxTensor =>
        ({ name, dataType, dims, external: { location, offset, length: count * Values.BYTES_PER_ELEMENT } })));
    });
}

const dim: fc.Arbitrary<OnnxDim> = fc.oneof(fc.nat({ max: 4096 }), fc.maxSafeInteger(), fc.constantFrom('batch', 'past_len', ''), fc.string({ maxLength: 4 }), fc.constant(undefined));
const valueInfo: fc.Arbitrary<OnnxValueInfo> = fc.record({
  name, dataType: fc.constantFrom(...DATA_TYPES), shape: fc.option(fc.array(dim, { maxLength: 4 }), { nil: undefined }),
});

/** A graph whose attributes hold graphs `depth` levels down (an `If`'s branches), and any other attribute. */
function graphArbitrary(depth: number): fc.Arbitrary<OnnxGraph> {
  const attribute: fc.Arbitrary<OnnxAttribute> = fc.oneof(
    fc.float().map((value) => ({ type: 'float' as const, value })),
    int64.map((value) => ({ type: 'int' as const, value })),
    name.map((value) => ({ type: 'string' as const, value })),
    tensorArbitrary(false).map((value) => ({ type: 'tensor' as const, value })),
    fc.array(fc.float(), { maxLength: 4 }).map((value) => ({ type: 'floats' as const, value })),
    fc.array(int64, { maxLength: 4 }).map((value) => ({ type: 'ints' as const, value })),
    fc.array(name, { maxLength: 3 }).map((value) => ({ type: 'strings' as const, value })),
    ...(depth > 0 ? [graphArbitrary(depth - 1).map((value) => ({ type: 'graph' as const, value }))] : []),
  );
  const node: fc.Arbitrary<OnnxNode> = fc.record({
    opType: fc.oneof(fc.constantFrom('If', 'Add', 'Constant', 'MatMul'), name),
    domain: fc.constantFrom('', 'com.microsoft', 'ai.onnx'),
    name,
    inputs: fc.array(name, { maxLength: 3 }),
    outputs: fc.array(name, { maxLength: 3 }),
    attributes: fc.uniqueArray(fc.tuple(name, attribute), { maxLength: 3, selector: ([key]) => key }).map(record),
  });
  return fc.record({
    name,
    nodes: fc.array(node, { maxLength: 3 }),
    initializers: fc.array(tensorArbitrary(true), { maxLength: 3 }),
    inputs: fc.array(valueInfo, { maxLength: 2 }),
    outputs: fc.array(valueInfo, { maxLength: 2 }),
    valueInfo: fc.array(valueInfo, { maxLength: 2 }),
  });
}

const modelArbitrary: fc.Arbitrary<OnnxModel> = fc.record({
  irVersion: fc.nat({ max: 12 }),
  opsets: fc.array(fc.record({ domain: fc.constantFrom('', 'com.microsoft', 'ai.onnx.ml'), version: fc.nat({ max: 30 }) }), { maxLength: 2 }),
  producerName: name,
  producerVersion: name,
  graph: graphArbitrary(2),
  metadata: fc.uniqueArray(fc.tuple(name, name), { maxLength: 3, selector: ([key]) => key }).map(record),
});

describe('round trip', () => {
  it('reads back every model it writes, tensor bytes bit for bit, and writes it again to the same bytes', () => {
    fc.assert(fc.property(modelArbitrary, (model) => {
      const bytes = encodeOnnxModel(model);
      const read = readOnnxModel(bytes);
      expect(read).toEqual(model);
      expect(allTensors(read.graph).map(elementBytes)).toEqual(allTensors(model.graph).map(elementBytes));
      expect(encodeOnnxModel(read)).toEqual(bytes);
    }), { numRuns: 300 });
  });

  it('resolves external tensors through externalData, from any offset', () => {
    const weights = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
    const ids = BigInt64Array.from([-1n, 2n ** 62n, 7n]);
    const file = new Uint8Array(3 + 24 + 5 + 24);
    file.set(new Uint8Array(weights.buffer), 3); // unaligned
    file.set(new Uint8Array(ids.buffer), 32);
    const model = smallModel([
      { name: 'w', dataType: 'float32', dims: [2, 3], external: { location: 'model.onnx_data', offset: 3, length: 24 } },
      { name: 'ids', dataType: 'int64', dims: [3], external: { location: 'model.onnx_data', offset: 32, length: 24 } },
    ]);
    const bytes = encodeOnnxModel(model);
    expect(readOnnxModel(bytes).graph.initializers).toEqual(model.graph.initializers);
    const asked: string[] = [];
    const resolved = readOnnxModel(bytes, { externalData: (location) => { asked.push(location); return file; } });
    expect(asked).toEqual(['model.onnx_data', 'model.onnx_data']);
    expect(resolved.graph.initializers).toEqual([
      { name: 'w', dataType: 'float32', dims: [2, 3], values: weights },
      { name: 'ids', dataType: 'int64', dims: [3], values: ids },
    ]);
  });

  it('reads a model from a view at an odd offset of a larger buffer', () => {
    const model = smallModel([tensorFromValues('w', 'float32', [3], [1, 2, 3]), tensorFromValues('s', 'int64', [2], [-1, 5])]);
    const bytes = encodeOnnxModel(model);
    const padded = new Uint8Array(bytes.length + 8);
    padded.set(bytes, 5);
    expect(readOnnxModel(padded.subarray(5, 5 + bytes.length))).toEqual(model);
  });

  it('tensorFromValues converts plain numbers to the type\'s array, keeps a typed array, refuses a wrong count', () => {
    expect(tensorFromValues('shape', 'int64', [2], [-1, 5])).toEqual({ name: 'shape', dataType: 'int64', dims: [2], values: new BigInt64Array([-1n, 5n]) });
    const bits = new Uint16Array([0x3c00]);
    expect(tensorFromValues('h', 'float16', [], bits).values).toBe(bits);
    expect(tensorFromValues('b', 'bool', [2], [1, 0]).values).toEqual(new Uint8Array([1, 0]));
    expect(tensorFromValues('s', 'string', [1], ['a']).values).toEqual(['a']);
    expect(() => tensorFromValues('w', 'float32', [2, 2], [1, 2, 3])).toThrow(/3 values for dims \[2, 2\]/);
  });

  it('writes a 64 MB initializer in one buffer of the exact size, and reads it back', () => {
    const values = new Float32Array(16 * 2 ** 20);
    for (let i = 0; i < values.length; i += 4099) values[i] = i;
    const model = smallModel([{ name: 'big', dataType: 'float32', dims: [4096, 4096], values }]);
    const bytes = encodeOnnxModel(model);
    expect(bytes.byteLength).toBe(bytes.buffer.byteLength);
    expect(bytes.byteLength - values.byteLength).toBeLessThan(200);
    const read = readOnnxModel(bytes).graph.initializers[0].values as Float32Array;
    expect(Buffer.from(read.buffer).equals(Buffer.from(values.buffer))).toBe(true);
  });
});

/** A model of one Identity node and these initializers. */
function smallModel(initializers: OnnxTensor[], nodes: OnnxNode[] = []): OnnxModel {
  return {
    irVersion: 8, opsets: [{ domain: '', version: 17 }], producerName: 'test', producerVersion: '', metadata: {},
    graph: { name: 'g', nodes, initializers, inputs: [], outputs: [], valueInfo: [] },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Hand-written protobuf, for what our writer never writes (unpacked fields, doc strings, unknown fields, damage)

function varint(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  while (v >= 0x80n) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n; }
  return [...out, Number(v)];
}
const tag = (field: number, wire: number) => varint(BigInt(field * 8 + wire));
const vint = (field: number, value: number | bigint) => [...tag(field, 0), ...varint(BigInt(value))];
const len = (field: number, ...payload: number[][]) => [...tag(field, 2), ...varint(BigInt(payload.flat().length)), ...payload.flat()];
const str = (field: number, text: string) => len(field, [...new TextEncoder().encode(text)]);
const fixed32 = (field: number, value: number) => [...tag(field, 5), ...new Uint8Array(new Float32Array([value]).buffer)];
const fixed64 = (field: number, value: number) => [...tag(field, 1), ...new Uint8Array(new Float64Array([value]).buffer)];
/** A ModelProto of these GraphProto fields. */
const modelOf = (...graph: number[][]) => new Uint8Array([...vint(1, 8), ...len(7, ...graph), ...len(8, str(1, ''), vint(2, 17))]);

describe('what other writers write', () => {
  it('reads repeated numbers packed and unpacked, data before data_type, the typed data fields of every type', () => {
    const f32 = (values: number[]) => values.flatMap((v) => [...new Uint8Array(new Float32Array([v]).buffer)]);
    const tensors = [
      // float_data: one packed run, then two unpacked elements; dims unpacked; data_type last.
      len(5, str(8, 'f'), len(4, f32([1.5, -2])), fixed32(4, 3), fixed32(4, 0.25), vint(1, 2), vint(1, 2), vint(2, 1)),
      len(5, vint(2, 11), vint(1, 2), str(8, 'd'), fixed64(10, Math.PI), len(10, [...new Uint8Array(new Float64Array([-0]).buffer)])),
      len(5, vint(2, 7), len(1, varint(3n)), str(8, 'i64'), vint(7, -1), len(7, varint(2n ** 62n), varint(-(2n ** 63n)))),
      len(5, vint(2, 13), vint(1, 2), str(8, 'u64'), vint(11, 2n ** 64n - 1n), vint(11, 5)),
      len(5, vint(2, 12), vint(1, 2), str(8, 'u32'), len(11, varint(4294967295n), varint(1n))),
      len(5, vint(2, 10), vint(1, 3), str(8, 'f16'), len(5, varint(0x3c00n), varint(0xfc00n)), vint(5, 0x7e01)),
      len(5, vint(2, 16), vint(1, 1), str(8, 'bf16'), vint(5, 0xbf80)),
      len(5, vint(2, 3), vint(1, 3), str(8, 'i8'), len(5, varint(-128n), varint(127n), varint(-1n))),
      len(5, vint(2, 2), vint(1, 2), str(8, 'u8'), vint(5, 255), vint(5, 0)),
      len(5, vint(2, 5), vint(1, 2), str(8, 'i16'), vint(5, -32768), vint(5, 32767)),
      len(5, vint(2, 4), vint(1, 1), str(8, 'u16'), vint(5, 65535)),
      len(5, vint(2, 6), vint(1, 2), str(8, 'i32'), len(5, varint(-(2n ** 31n)), varint(2n ** 31n - 1n))),
      len(5, vint(2, 9), vint(1, 3), str(8, 'b'), len(5, varint(1n), varint(0n), varint(1n))),
      len(5, vint(2, 8), vint(1, 2), str(8, 's'), str(6, 'héllo'), str(6, '')),
      len(5, vint(2, 1), str(8, 'scalar'), fixed32(4, 7)),
      len(5, vint(2, 1), vint(1, 0), str(8, 'empty')),
    ];
    const tensors_ = readOnnxModel(modelOf(...tensors)).graph.initializers;
    const byName = Object.fromEntries(tensors_.map((t) => [t.name, t]));
    expect(byName.f).toEqual({ name: 'f', dataType: 'float32', dims: [2, 2], values: new Float32Array([1.5, -2, 3, 0.25]) });
    expect(byName.d.values).toEqual(new Float64Array([Math.PI, -0]));
    expect(byName.i64).toEqual({ name: 'i64', dataType: 'int64', dims: [3], values: new BigInt64Array([-1n, 2n ** 62n, -(2n ** 63n)]) });
    expect(byName.u64.values).toEqual(new BigUint64Array([2n ** 64n - 1n, 5n]));
    expect(byName.u32.values).toEqual(new Uint32Array([4294967295, 1]));
    expect(byName.f16).toEqual({ name: 'f16', dataType: 'float16', dims: [3], values: new Uint16Array([0x3c00, 0xfc00, 0x7e01]) });
    expect(byName.bf16).toEqual({ name: 'bf16', dataType: 'bfloat16', dims: [1], values: new Uint16Array([0xbf80]) });
    expect(byName.i8.values).toEqual(new Int8Array([-128, 127, -1]));
    expect(byName.u8.values).toEqual(new Uint8Array([255, 0]));
    expect(byName.i16.values).toEqual(new Int16Array([-32768, 32767]));
    expect(byName.u16.values).toEqual(new Uint16Array([65535]));
    expect(byName.i32.values).toEqual(new Int32Array([-(2 ** 31), 2 ** 31 - 1]));
    expect(byName.b).toEqual({ name: 'b', dataType: 'bool', dims: [3], values: new Uint8Array([1, 0, 1]) });
    expect(byName.s.values).toEqual(['héllo', '']);
    expect(byName.scalar).toEqual({ name: 'scalar', dataType: 'float32', dims: [], values: new Float32Array([7]) });
    expect(byName.empty).toEqual({ name: 'empty', dataType: 'float32', dims: [0], values: new Float32Array(0) });
  });

  it('skips doc strings and unknown fields of every wire type, everywhere', () => {
    const unknown = [...vint(900, 5), ...fixed32(901, 1), ...fixed64(902, 1), ...str(903, 'x')];
    const bytes = new Uint8Array([
      ...vint(1, 9), ...str(6, 'model doc'), ...unknown, ...str(4, 'domain'), ...vint(5, 3),
      ...len(7,
        str(10, 'graph doc'), unknown,
        len(1, str(1, 'x'), str(2, 'y'), str(4, 'Relu'), str(6, 'node doc'), unknown, len(9, str(1, 'k'), str(2, 'v'))),
        len(5, vint(2, 1), vint(1, 1), str(8, 'w'), str(12, 'tensor doc'), unknown, len(9, new Array(4).fill(0))),
        len(11, str(1, 'x'), str(3, 'value doc'), unknown, len(2, len(1, vint(1, 1), unknown, len(2, len(1, vint(1, 4), str(3, 'denotation')))))),
        len(13, str(1, 'no type')), // a value_info without type: dropped
        len(14, str(1, 'quantization annotation'))),
      ...len(8, str(1, ''), vint(2, 17), unknown),
      ...len(20, str(1, 'training info')),
    ]);
    expect(readOnnxModel(bytes)).toEqual({
      irVersion: 9, opsets: [{ domain: '', version: 17 }], producerName: '', producerVersion: '', metadata: {},
      graph: {
        name: '', nodes: [{ opType: 'Relu', domain: '', name: '', inputs: ['x'], outputs: ['y'], attributes: {} }],
        initializers: [{ name: 'w', dataType: 'float32', dims: [1], values: new Float32Array(1) }],
        inputs: [{ name: 'x', dataType: 'float32', shape: [4] }], outputs: [], valueInfo: [],
      },
    });
  });

  it('reads attributes without `type` (IR version 1 and 2) by the field that is set', () => {
    const node = len(1, str(4, 'Op'), len(5, str(1, 'i'), vint(3, -3)), len(5, str(1, 'f'), fixed32(2, 0.5)),
      len(5, str(1, 'ints'), vint(8, 1), vint(8, 2)), len(5, str(1, 's'), str(4, 'x')), len(5, str(1, 'strings'), str(9, 'a')));
    expect(readOnnxModel(modelOf(node)).graph.nodes[0].attributes).toEqual({
      i: { type: 'int', value: -3 }, f: { type: 'float', value: 0.5 }, ints: { type: 'ints', value: [1, 2] },
      s: { type: 'string', value: 'x' }, strings: { type: 'strings', value: ['a'] },
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Bad input

describe('bad input', () => {
  const encoder = readFileSync('public/models/tiny-florence-test/encoder.onnx');

  /** The FormatError `read` throws. */
  function formatError(read: () => unknown): FormatError {
    try {
      read();
    } catch (e) {
      expect(e).toBeInstanceOf(FormatError);
      return e as FormatError;
    }
    throw new Error('no error thrown');
  }

  it('refuses a file cut anywhere inside its graph, or a length inside it that runs past its message, saying where', () => {
    const model = readOnnxModel(encoder);
    const graphStart = 64; // past ir_version, producer_name, producer_version and the graph's tag
    const graphEnd = encoder.length - 16; // before opset_import
    for (let cut = graphStart; cut < graphEnd; cut += 997) {
      // The graph's own length is the first to run past the end.
      const error = formatError(() => readOnnxModel(encoder.subarray(0, cut), { where: 'encoder.onnx' }));
      expect(error.where).toMatch(/^encoder\.onnx: graph, byte \d+$/);
      expect(error.problem).toMatch(/^field 7 of \d+ bytes runs past the end of its message \(truncated\?\)$/);
    }
    // A weight's raw_data length made 127 bytes longer: it runs past the end of its TensorProto.
    const size = (t: OnnxTensor) => elementBytes(t).length;
    const index = model.graph.initializers.findIndex((t) => size(t) >= 1024 && size(t) < 16384 && size(t) % 128 === 0);
    const length = size(model.graph.initializers[index]);
    const raw = encoder.indexOf(Buffer.from(elementBytes(model.graph.initializers[index])));
    expect([...encoder.subarray(raw - 3, raw)]).toEqual([0x4a, 0x80, length >> 7]); // raw_data (9), its length
    const damaged = new Uint8Array(encoder);
    damaged[raw - 2] = 0xff;
    const error = formatError(() => readOnnxModel(damaged, { where: 'encoder.onnx' }));
    expect(error.where).toBe(`encoder.onnx: graph.initializer[${index}], byte ${raw}`);
    expect(error.problem).toBe(`field 9 of ${length + 127} bytes runs past the end of its message (truncated?)`);
  });

  it('refuses a wrong wire type, naming the field and its message', () => {
    expect(formatError(() => readOnnxModel(new Uint8Array([...vint(1, 8), ...vint(7, 1)]))).message)
      .toBe('field 7 has wire type varint, expected length-delimited (model.onnx: graph, byte 3). The file is damaged or is not an ONNX model: download or export it again.');
    const error = formatError(() => readOnnxModel(modelOf(len(1, str(4, 'Add')), len(1, vint(4, 3))), { where: 'm.onnx' }));
    expect(error.where).toBe('m.onnx: graph.node[1], byte 14'); // where the reader stopped: past the tag
    expect(error.problem).toBe('field 4 has wire type varint, expected length-delimited');
    expect(formatError(() => readOnnxModel(modelOf(len(5, fixed64(4, 1))))).problem).toMatch(/field 4 has wire type 64-bit, expected 32-bit/);
    expect(formatError(() => readOnnxModel(new Uint8Array([...tag(7, 3)]))).problem).toMatch(/wire type group start/);
  });

  it('refuses an external tensor whose file is missing or too short, naming the tensor and the file', () => {
    const bytes = encodeOnnxModel(smallModel([{ name: 'enc.w', dataType: 'float32', dims: [4], external: { location: 'weights.onnx_data', offset: 8, length: 16 } }]));
    const missing = formatError(() => readOnnxModel(bytes, { where: 'encoder_model.onnx', externalData: () => undefined }));
    expect(missing.problem).toBe('its external data file "weights.onnx_data" is missing');
    expect(missing.where).toMatch(/^encoder_model\.onnx: graph\.initializer\[0\] "enc\.w", byte \d+$/);
    expect(missing.fix).toMatch(/Put "weights\.onnx_data" next to the model/);
    const short = formatError(() => readOnnxModel(bytes, { externalData: () => new Uint8Array(20) }));
    expect(short.problem).toBe('its bytes 8…24 are past the end of the 20-byte "weights.onnx_data"');
  });

  it.each([
    ['a sparse initializer', modelOf(len(15, [])), /a sparse initializer is not supported/],
    ['a model-local function', new Uint8Array([...len(7, []), ...len(25, [])]), /model-local function/],
    ['no graph', new Uint8Array([...vint(1, 8)]), /the model has no graph/],
    ['a complex64 tensor', modelOf(len(5, vint(2, 14))), /data type 14 is not supported/],
    ['raw_data of the wrong size', modelOf(len(5, vint(2, 1), vint(1, 2), len(9, [0, 0, 0, 0]))), /4 bytes of data, 2 float32 elements need 8/],
    ['too few typed elements', modelOf(len(5, vint(2, 7), vint(1, 3), len(7, varint(1n)))), /too few for its 3 elements/],
    ['too many typed elements', modelOf(len(5, vint(2, 7), vint(1, 1), len(7, varint(1n), varint(2n)))), /more elements than its 1/],
    ['data in the wrong field', modelOf(len(5, vint(2, 1), vint(1, 1), vint(7, 1))), /float32 tensor holds data in field 7, not field 4/],
    ['dims of 2^60 elements', modelOf(len(5, vint(2, 1), vint(1, 2 ** 30), vint(1, 2 ** 30))), /hold too many elements/],
    ['dims of 2^52 elements and 4 bytes', modelOf(len(5, vint(2, 1), vint(1, 2 ** 26), vint(1, 2 ** 26), len(4, [0, 0, 0, 0]))), /too few for its 4503599627370496 elements/],
    ['a negative dim', modelOf(len(5, vint(2, 1), vint(1, -1))), /are negative/],
    ['an attribute of a list of graphs', modelOf(len(1, len(5, str(1, 'branches'), vint(20, 10)))), /attribute type 10 is not supported/],
    ['an attribute given twice', modelOf(len(1, len(5, str(1, 'a'), vint(3, 1), vint(20, 2)), len(5, str(1, 'a'), vint(3, 2), vint(20, 2)))), /attribute "a" is given twice/],
    ['a sequence-typed input', modelOf(len(11, str(1, 'x'), len(2, len(4, [])))), /a type other than a tensor is not supported/],
    ['an untyped output', modelOf(len(12, str(1, 'y'))), /output "y" without a type is not supported/],
    ['a number of 11 bytes', new Uint8Array([0x08, ...new Array(10).fill(0xff), 0x01]), /a number runs over 10 bytes/],
    ['field number 0', new Uint8Array([0x00, 0x01]), /field number 0 is invalid/],
    ['sub-graphs 100 deep', encodeOnnxModel(smallModel([], [nestedIf(100)])), /sub-graphs nest deeper than 64/],
  ])('refuses %s', (_, bytes, reason) => {
    expect(formatError(() => readOnnxModel(bytes)).message).toMatch(reason);
  });

  it('throws nothing but FormatError on damaged bytes (cut, or a byte changed)', () => {
    fc.assert(fc.property(modelArbitrary, fc.nat(), fc.nat({ max: 255 }), fc.boolean(), (model, at, value, cut) => {
      const bytes = encodeOnnxModel(model);
      const damaged = cut ? bytes.subarray(0, at % (bytes.length + 1)) : bytes.slice();
      if (!cut) damaged[at % bytes.length] = value;
      try {
        readOnnxModel(damaged);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
    }), { numRuns: 500 });
  });
});

/** An `If` node whose then_branch holds one `depth - 1` deep. */
function nestedIf(depth: number): OnnxNode {
  const branch: OnnxGraph = { name: 'b', nodes: depth > 1 ? [nestedIf(depth - 1)] : [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  return { opType: 'If', domain: '', name: `if${depth}`, inputs: ['c'], outputs: ['y'], attributes: { then_branch: { type: 'graph', value: branch } } };
}

// ---------------------------------------------------------------------------------------------------------------
// The repo's graphs, as Python's onnx reads them

interface Summary {
  irVersion: number; producerName: string; producerVersion: string; opsets: OnnxModel['opsets']; metadata: Record<string, string>;
  graphName: string; opCounts: Record<string, number>; attributeTypes: Record<string, number>;
  inputs: unknown[]; outputs: unknown[]; valueInfoCount: number; valueInfoSha256: string; nodesSha256: string; initializers: string[];
}
const summaries: Record<string, Summary> = JSON.parse(readFileSync('src/formats/testing/onnxSummary.json', 'utf8'));

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const f32Hex = (value: number) => hex(new Uint8Array(new Float32Array([value]).buffer));
const utf8Hex = (text: string) => hex(new TextEncoder().encode(text));
const ATTRIBUTE_TYPES = ['float', 'int', 'string', 'tensor', 'graph', 'floats', 'ints', 'strings'] as const;

/** tools/onnx_summary.py's text of the same facts, computed from our reader's model. */
function tensorDigest(t: OnnxTensor): string {
  return `${t.dataType}[${t.dims.join(',')}]${sha256(elementBytes(t)).slice(0, 16)}`;
}

function attributeText(name: string, a: OnnxAttribute): string {
  const value = a.type === 'float' ? f32Hex(a.value) : a.type === 'int' ? String(a.value) : a.type === 'string' ? utf8Hex(a.value)
    : a.type === 'tensor' ? tensorDigest(a.value) : a.type === 'graph' ? nodesDigest(a.value)
      : a.type === 'floats' ? a.value.map(f32Hex).join(',') : a.type === 'ints' ? a.value.join(',') : a.value.map(utf8Hex).join(',');
  return `${name}:${ATTRIBUTE_TYPES.indexOf(a.type) + 1}=${value}`;
}

function nodesDigest(graph: OnnxGraph): string {
  return sha256(graph.nodes.map((n) => {
    const attributes = Object.entries(n.attributes).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, a]) => attributeText(k, a));
    return `${n.opType}|${n.domain}|${n.name}|${n.inputs.join(',')}|${n.outputs.join(',')}|${attributes.join(';')}`;
  }).join('\n'));
}

const pythonValueInfo = (v: OnnxValueInfo) => ({ name: v.name, dataType: v.dataType, shape: v.shape ? v.shape.map((d) => d ?? null) : null });

function summarise(model: OnnxModel): Summary {
  const { graph } = model;
  const count = (keys: string[]) => keys.reduce<Record<string, number>>((counts, k) => ({ ...counts, [k]: (counts[k] ?? 0) + 1 }), {});
  return {
    irVersion: model.irVersion, producerName: model.producerName, producerVersion: model.producerVersion, opsets: model.opsets,
    metadata: model.metadata, graphName: graph.name,
    opCounts: count(graph.nodes.map((n) => n.opType)),
    attributeTypes: count(graph.nodes.flatMap((n) => Object.values(n.attributes).map((a) => a.type.toUpperCase()))),
    inputs: graph.inputs.map(pythonValueInfo),
    outputs: graph.outputs.map(pythonValueInfo),
    valueInfoCount: graph.valueInfo.length,
    valueInfoSha256: sha256(graph.valueInfo.map((v) => JSON.stringify(pythonValueInfo(v))).join('\n')),
    nodesSha256: nodesDigest(graph),
    initializers: graph.initializers.map((t) => `${tensorDigest(t)} ${t.name}`),
  };
}

const committed = readdirSync('public/models').flatMap((pkg) =>
  readdirSync(`public/models/${pkg}`).filter((f) => f.endsWith('.onnx')).map((f) => `public/models/${pkg}/${f}`)).sort();

describe("the repo's graphs", () => {
  it('are all in the summary (tools/onnx_summary.py was run on every one)', () => {
    expect(Object.keys(summaries).sort()).toEqual(committed);
  });

  it.each(committed)('%s reads as the onnx package reads it, and round-trips', (path) => {
    const bytes = readFileSync(path);
    // A package whose graphs share one weights file (src/formats/sharedWeights.ts) has it beside them.
    const weightsPath = join(dirname(path), SHARED_WEIGHTS_FILE);
    const weights = existsSync(weightsPath) ? new Uint8Array(readFileSync(weightsPath)) : undefined;
    const model = readOnnxModel(bytes, { where: path, externalData: (location) => (location === SHARED_WEIGHTS_FILE ? weights : undefined) });
    expect(summarise(model)).toEqual(summaries[path]);
    const again = encodeOnnxModel(model);
    expectSameModel(readOnnxModel(again), model);
    // Every tensor's bytes once, and less than the file and its external data: torch.onnx's doc strings and node
    // metadata_props are left out.
    const tensorBytes = allTensors(model.graph).reduce((sum, t) => sum + elementBytes(t).length, 0);
    expect(again.length).toBeGreaterThan(tensorBytes);
    expect(again.length).toBeLessThanOrEqual(bytes.length + (weights?.length ?? 0));
    if (weights) {
      // As stored: the external references round-trip too, and the graph itself is small.
      const stored = readOnnxModel(bytes, { where: path });
      expectSameModel(readOnnxModel(encodeOnnxModel(stored)), stored);
      expect(stored.graph.initializers.filter((t) => t.external).length).toBeGreaterThan(0);
    }
  });
});

describe('re-encoded graphs in onnxruntime-web', () => {
  beforeAll(() => installNodeWebGpu());

  /** Inputs for a graph: symbolic dims 2 (batch) or 3, floats in [-1, 1], masks of ones, small ids. */
  function inputsFor(graph: OnnxGraph): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const input of graph.inputs) {
      const dims = (input.shape ?? []).map((d) => (typeof d === 'number' ? d : d === 'batch' ? 2 : 3));
      const count = dims.reduce((a, b) => a * b, 1);
      if (input.dataType === 'int64') {
        const id = (i: number) => BigInt(input.name.includes('mask') ? 1 : (i * 7 + 3) % 11);
        feeds[input.name] = hostTensor('int64', BigInt64Array.from({ length: count }, (_, i) => id(i)), dims);
      } else {
        expect(input.dataType).toBe('float32');
        const values = Float32Array.from({ length: count }, (_, i) => (input.name.includes('mask') ? 1 : Math.sin(i * 0.731 + 0.3)));
        feeds[input.name] = hostTensor('float32', values, dims);
      }
    }
    return feeds;
  }

  // Florence-2's DaViT vision tower (convolutions, windowed attention) and the vjp graph (the widest set of ops);
  // each pair of sessions takes SwiftShader 25–55 s to compile.
  it.each(['tiny-florence-test/vision', 'tiny-florence-test/vjp'])(
    '%s.onnx gives bitwise the same outputs', async (graphName) => {
      const original = readFileSync(`public/models/${graphName}.onnx`);
      const model = readOnnxModel(original);
      const reencoded = encodeOnnxModel(model);
      const outputs: Array<Record<string, Uint8Array>> = [];
      const finite: boolean[] = [];
      for (const bytes of [new Uint8Array(original), reencoded]) {
        const session = await createSession(bytes, graphName, { inputs: [], outputs: [] });
        try {
          const results = await session.run(inputsFor(model.graph));
          outputs.push(Object.fromEntries(Object.entries(results).map(([k, t]) => {
            const data = t.data as Float32Array | BigInt64Array;
            if (data instanceof Float32Array) finite.push(data.every(Number.isFinite));
            return [k, new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice()];
          })));
        } finally {
          await session.release();
        }
      }
      expect(Object.keys(outputs[0]).sort()).toEqual(model.graph.outputs.map((o) => o.name).sort());
      expect(finite.every(Boolean)).toBe(true);
      for (const name of Object.keys(outputs[0])) {
        expect(outputs[0][name].length, name).toBeGreaterThan(0);
        expect(Buffer.from(outputs[1][name]).equals(Buffer.from(outputs[0][name])), name).toBe(true);
      }
    });
});

describe('writeOnnxModel (onnxWriter.ts) over the encoder', () => {
  it('writes float32 inputs and outputs of static dims, nodes named op_index, opset 17 by default', () => {
    const bytes = writeOnnxModel({
      nodes: [{ op: 'Sub', inputs: ['a', 'b'], outputs: ['d'] }, { op: 'Mul', inputs: ['d', 'c'], outputs: ['y'] }],
      inputs: ['a', 'b', 'c'].map((name) => ({ name, dims: [4, 2] })),
      outputs: [{ name: 'y', dims: [4, 2] }],
    });
    const model = readOnnxModel(bytes);
    expect(model.opsets).toEqual([{ domain: '', version: 17 }]);
    expect(model.graph.nodes.map((n) => [n.name, n.opType, n.domain, n.inputs, n.outputs])).toEqual([
      ['Sub_0', 'Sub', '', ['a', 'b'], ['d']], ['Mul_1', 'Mul', '', ['d', 'c'], ['y']]]);
    expect(model.graph.inputs).toEqual(['a', 'b', 'c'].map((name) => ({ name, dataType: 'float32', shape: [4, 2] })));
    expect(model.graph.outputs).toEqual([{ name: 'y', dataType: 'float32', shape: [4, 2] }]);
    expect(readOnnxModel(writeOnnxModel({ nodes: [], inputs: [], outputs: [], opset: 13 })).opsets).toEqual([{ domain: '', version: 13 }]);
  });
});
