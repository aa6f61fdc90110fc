/**
 * Tensors between their ONNX storage (OnnxTensor: typed arrays, int64 as BigInt, float16/bfloat16 as raw
 * bits, bool as bytes) and the evaluator's Tensor64 (every element a float64 number).
 *
 * From ONNX: int64 becomes the nearest double (exact up to 2^53; INT64_MAX becomes 2^63, which Slice's
 * clamping treats as "to the end"). To ONNX: each element is converted to the type with care — integers
 * truncate and saturate at the type's range (so 2^63 goes back to INT64_MAX, not around to INT64_MIN), bool
 * is x ≠ 0, float16 and bfloat16 round to nearest even.
 */
import { PackageError } from '../../errors.ts';
import type { OnnxDataType, OnnxTensor, OnnxTensorValues } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import { sizeOf } from './tensor.ts';
import { numberFromHalf } from '../../formats/half.ts';

export { numberFromHalf };

const float32 = new Float32Array(1);
const bits32 = new Uint32Array(float32.buffer);

/** A number to IEEE half-precision bits, rounding to nearest even (through float32). */
export function halfFromNumber(x: number): number {
  float32[0] = x;
  const bits = bits32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function numberFromBfloat16(b: number): number {
  bits32[0] = b << 16;
  return float32[0];
}

export function bfloat16FromNumber(x: number): number {
  float32[0] = x;
  const bits = bits32[0];
  if (Number.isNaN(x)) return ((bits >>> 16) & 0x8000) | 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

function bigIntFrom(x: number, low: bigint, high: bigint): bigint {
  if (Number.isNaN(x)) return 0n;
  if (x >= Number(high)) return high;
  if (x <= Number(low)) return low;
  return BigInt(Math.trunc(x));
}

/** Each element as a number in [low, high], truncated toward zero (NaN as 0). */
function saturated(data: Float64Array, low: number, high: number): number[] {
  return Array.from(data, (x) => (Number.isNaN(x) ? 0 : Math.min(Math.max(Math.trunc(x), low), high)));
}

/** An OnnxTensor's elements as a Tensor64. */
export function tensor64FromOnnx(t: OnnxTensor): Tensor64 {
  const where = `tensor "${t.name}"`;
  if (t.values === undefined) {
    throw new PackageError('the tensor\'s data is external and not loaded', where, 'Read the model with its external data files.');
  }
  const values = t.values;
  if (Array.isArray(values)) throw new PackageError('string tensors are not supported by the evaluator', where, 'Remove the string tensor from the graph.');
  const count = sizeOf(t.dims);
  let data: Float64Array;
  if (t.dataType === 'float16') data = Float64Array.from(values as Uint16Array, numberFromHalf);
  else if (t.dataType === 'bfloat16') data = Float64Array.from(values as Uint16Array, numberFromBfloat16);
  else if (values instanceof BigInt64Array || values instanceof BigUint64Array) data = Float64Array.from(values, (v) => Number(v));
  else if (t.dataType === 'bool') data = Float64Array.from(values as ArrayLike<number>, (v) => (v !== 0 ? 1 : 0));
  else data = Float64Array.from(values as ArrayLike<number>);
  if (data.length !== count) {
    throw new PackageError(`the tensor has ${data.length} elements for dims [${t.dims.join(', ')}] (${count})`, where, 'Re-export the model; the tensor is damaged.');
  }
  return { dataType: t.dataType, dims: [...t.dims], data };
}

/** A Tensor64 stored as its ONNX type. */
export function onnxFromTensor64(name: string, t: Tensor64): OnnxTensor {
  return { name, dataType: t.dataType, dims: [...t.dims], values: storageOf(t.dataType, t.data) };
}

function storageOf(type: OnnxDataType, data: Float64Array): OnnxTensorValues {
  switch (type) {
    case 'float32': return Float32Array.from(data);
    case 'float64': return Float64Array.from(data);
    case 'float16': return Uint16Array.from(data, halfFromNumber);
    case 'bfloat16': return Uint16Array.from(data, bfloat16FromNumber);
    case 'bool': return Uint8Array.from(data, (x) => (x !== 0 ? 1 : 0));
    case 'int8': return Int8Array.from(saturated(data, -128, 127));
    case 'uint8': return Uint8Array.from(saturated(data, 0, 255));
    case 'int16': return Int16Array.from(saturated(data, -32768, 32767));
    case 'uint16': return Uint16Array.from(saturated(data, 0, 65535));
    case 'int32': return Int32Array.from(saturated(data, -2147483648, 2147483647));
    case 'uint32': return Uint32Array.from(saturated(data, 0, 4294967295));
    case 'int64': return BigInt64Array.from(data, (x) => bigIntFrom(x, INT64_MIN, INT64_MAX));
    case 'uint64': return BigUint64Array.from(data, (x) => bigIntFrom(x, 0n, UINT64_MAX));
    case 'string': throw new PackageError('string tensors are not supported by the evaluator', 'onnxFromTensor64', 'Remove the string tensor from the graph.');
  }
}
