/**
 * How gradient rules write ONNX: an Emitter appends nodes and constant initializers to the backward part of a
 * graph, under names no forward value has, and offers the few compound steps every rule needs (unbroadcast,
 * reductions with constant axes, reshapes to a static shape, zeros).
 *
 * Everything it writes runs on onnxruntime-web's WebGPU provider with the shapes fixed: shapes and axes are
 * int64 initializers (never Shape ops), reductions are ReduceSum with axes as an input (opset 13+; a mean is a
 * ReduceSum times 1/n, so no opset-18 ReduceMean form is needed), and squeeze/unsqueeze are Reshapes.
 */
import type { OnnxAttribute, OnnxDataType, OnnxNode, OnnxTensor } from '../../formats/onnxModel.ts';
import { PackageError } from '../../errors.ts';
import { bfloat16FromNumber, halfFromNumber } from '../ops/convert.ts';

/** Element types a gradient may have. */
export const FLOAT_TYPES: ReadonlySet<OnnxDataType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);

export const isFloat = (dataType: OnnxDataType): boolean => FLOAT_TYPES.has(dataType);

/** Attribute values as rules write them: numbers are ints unless passed as { float }. */
export type AttributeValue = number | number[] | string | { float: number } | { floats: number[] } | OnnxTensor;

/** An AttributeProto from a plain value. */
export function attributeOf(value: AttributeValue): OnnxAttribute {
  if (typeof value === 'number') return { type: 'int', value };
  if (typeof value === 'string') return { type: 'string', value };
  if (Array.isArray(value)) return { type: 'ints', value };
  if ('float' in value) return { type: 'float', value: value.float };
  if ('floats' in value) return { type: 'floats', value: value.floats };
  return { type: 'tensor', value };
}

export const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

export const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** numpy broadcasting of static shapes. */
export function broadcastShapes(...shapes: ReadonlyArray<readonly number[]>): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const v = k >= 0 ? s[k] : 1;
      if (v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}

/** A float tensor's elements in the storage OnnxTensor uses for its type. */
export function floatValues(dataType: OnnxDataType, values: readonly number[]): OnnxTensor['values'] {
  switch (dataType) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'float16': return Uint16Array.from(values, halfFromNumber);
    case 'bfloat16': return Uint16Array.from(values, bfloat16FromNumber);
    default: throw new Error(`floatValues: ${dataType} is not a float type`);
  }
}

export class Emitter {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private count = 0;
  private readonly constants = new Map<string, string>();

  constructor(
    /** Prefix of every name written here; no forward value starts with it. */
    readonly prefix: string,
  ) {}

  /** A fresh value name: prefix, a counter, and a label that says the math (dA, dLogits…). */
  fresh(label: string): string {
    return `${this.prefix}${this.count++}_${label}`;
  }

  /** Appends one node; returns its outputs' names (fresh ones, labelled, unless given). */
  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, outputs: number | string[] = 1, label = opType): string[] {
    const names = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => this.fresh(outputs === 1 ? label : `${label}${i}`)) : outputs;
    this.nodes.push({
      opType, domain: '', name: `${this.prefix}node${this.nodes.length}_${opType}`, inputs, outputs: names,
      attributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, attributeOf(v)])),
    });
    return names;
  }

  /** One-output node. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, label = opType): string {
    return this.node(opType, inputs, attributes, 1, label)[0];
  }

  /** A constant initializer (deduplicated by content). */
  constant(dataType: OnnxDataType, dims: number[], values: readonly number[] | readonly bigint[], label = 'const'): string {
    const key = `${dataType}|${dims.join(',')}|${values.join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.fresh(label);
    let stored: OnnxTensor['values'];
    if (dataType === 'int64') stored = BigInt64Array.from(values as readonly (number | bigint)[], (v) => BigInt(v));
    else if (dataType === 'int32') stored = Int32Array.from(values as readonly number[]);
    else if (dataType === 'bool') stored = Uint8Array.from(values as readonly number[]);
    else stored = floatValues(dataType, values as readonly number[]);
    this.initializers.push({ name, dataType, dims, values: stored });
    this.constants.set(key, name);
    return name;
  }

  /** A 1-D int64 constant: shapes, axes, starts… */
  ints(values: readonly number[], label = 'ints'): string {
    return this.constant('int64', [values.length], values, label);
  }

  /** A scalar of a float type. */
  scalar(value: number, dataType: OnnxDataType): string {
    return this.constant(dataType, [], [value], `c${value}`.replace(/[^A-Za-z0-9_.-]/g, '_'));
  }

  // ---- compound steps ---------------------------------------------------------------------------

  /** Reshape to a static shape (also Squeeze/Unsqueeze/Flatten: all are the same bytes in another shape). */
  reshape(x: string, shape: readonly number[], label = 'reshape'): string {
    return this.op('Reshape', [x, this.ints(shape, 'shape')], {}, label);
  }

  /** ReduceSum over constant axes (none: x itself). */
  reduceSum(x: string, axes: readonly number[], keepdims: boolean, label = 'sum'): string {
    if (axes.length === 0) return x;
    return this.op('ReduceSum', [x, this.ints(axes, 'axes')], { keepdims: keepdims ? 1 : 0 }, label);
  }

  /** Expand to a static shape. */
  expand(x: string, shape: readonly number[], label = 'expand'): string {
    return this.op('Expand', [x, this.ints(shape, 'shape')], {}, label);
  }

  /**
   * The gradient of a broadcast: `g` has the broadcast shape, the operand had `target`. Sums over the leading
   * axes the operand lacked and over the axes where it had 1, then reshapes to `target`.
   */
  unbroadcast(g: string, gShape: readonly number[], target: readonly number[], label = 'unbroadcast'): string {
    if (sameShape(gShape, target)) return g;
    const lead = gShape.length - target.length;
    if (lead < 0) throw new Error(`unbroadcast: [${gShape}] has a lower rank than [${target}]`);
    const axes: number[] = [];
    for (let i = 0; i < gShape.length; i++) {
      if (i < lead || (target[i - lead] === 1 && gShape[i] !== 1)) axes.push(i);
    }
    const summed = this.reduceSum(g, axes, true, label);
    return this.reshape(summed, target, label);
  }

  /** A tensor of zeros of a static shape (ConstantOfShape of a constant shape: ORT folds it into an initializer). */
  zeros(shape: readonly number[], dataType: OnnxDataType, label = 'zeros'): string {
    const value: OnnxTensor = { name: 'value', dataType, dims: [1], values: floatValues(dataType, [0]) };
    return this.op('ConstantOfShape', [this.ints(shape, 'shape')], { value }, label);
  }

  /** Transposes the last two axes of a rank-r value. */
  transposeLast2(x: string, rank: number, label = 'T'): string {
    const perm = Array.from({ length: rank }, (_, i) => i);
    [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
    return this.op('Transpose', [x], { perm }, label);
  }

  /** Float of a bool: 1 where true. */
  mask(condition: string, dataType: OnnxDataType, label = 'mask'): string {
    return this.op('Cast', [condition], { to: onnxTypeNumber(dataType) }, label);
  }
}

/** TensorProto.DataType numbers (onnx.proto3), for Cast's `to`. */
const TYPE_NUMBERS: Record<OnnxDataType, number> = {
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16,
};

export const onnxTypeNumber = (dataType: OnnxDataType): number => TYPE_NUMBERS[dataType];

export function onnxTypeName(code: number): OnnxDataType {
  const found = (Object.keys(TYPE_NUMBERS) as OnnxDataType[]).find((k) => TYPE_NUMBERS[k] === code);
  if (!found) throw new PackageError(`unknown ONNX element type ${code}`, 'Cast attribute "to"', 'Use a standard TensorProto.DataType.');
  return found;
}
