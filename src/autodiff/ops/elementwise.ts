/**
 * Element-by-element ops: each output element depends on the elements at the same (broadcast) position of
 * the inputs. Unary math (Exp, Erf, Gelu …), binary math and comparisons with numpy broadcasting (Add, Div,
 * Pow, Less …), the variadic Sum/Max/Min/Mean, Where, Clip, Cast and the logic ops.
 *
 * ONNX semantics, opsets 13–20: integer Div truncates toward zero, Mod follows the divisor's sign unless
 * fmod=1, Pow's result has the base's type, comparisons and logic give bool, Clip takes min/max as inputs
 * from opset 11 (attributes before), Gelu (opset 20) is exact (erf) or its tanh approximation. Dropout is
 * the inference one: its output is its input, its mask all true.
 */
import type { OnnxDataType, OnnxNode } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import {
  attrFloat, attrInt, attrString, dataTypeFromNumber, isFloatType, mapBroadcast, opError, required, tensor,
  type OpEvaluator,
} from './tensor.ts';

// ---------------------------------------------------------------------------------------------------------
// erf, in float64: a power series near 0 (all terms positive, no cancellation) and a continued fraction for
// erfc further out, both accurate to a few ulp.

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 2.5) {
    // erf(a) = 2/√π · e^(−a²) · Σ 2ⁿ a^(2n+1) / (1·3·5···(2n+1))
    let term = a;
    let sum = a;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * a * a) / (2 * n + 1);
      sum += term;
    }
    return Math.sign(x) * TWO_OVER_SQRT_PI * Math.exp(-a * a) * sum;
  }
  return Math.sign(x) * (1 - erfcLarge(a));
}

/** erfc(a) for a ≥ 2.5: e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …)))), by Lentz's method. */
function erfcLarge(a: number): number {
  if (a > 27) return 0;
  const tiny = 1e-300;
  let f = a;
  let c = a;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const coefficient = n / 2;
    d = a + coefficient * d;
    d = d === 0 ? tiny : 1 / d;
    c = a + coefficient / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Round half to even, as ONNX's Round. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---------------------------------------------------------------------------------------------------------
// Unary

function unary(f: (x: number) => number, type?: OnnxDataType): OpEvaluator {
  return (inputs, node) => {
    const x = required(inputs, 0, node);
    const out = tensor(type ?? x.dataType, x.dims);
    for (let i = 0; i < out.data.length; i++) out.data[i] = f(x.data[i]);
    return [out];
  };
}

const gelu: OpEvaluator = (inputs, node) => {
  const approximate = attrString(node, 'approximate', 'none');
  const k = Math.sqrt(2 / Math.PI);
  if (approximate === 'tanh') return unary((x) => 0.5 * x * (1 + Math.tanh(k * (x + 0.044715 * x * x * x))))(inputs, node, 0);
  if (approximate !== 'none') throw opError(node, `approximate="${approximate}" is neither "none" nor "tanh"`);
  return unary((x) => 0.5 * x * (1 + erf(x / Math.SQRT2)))(inputs, node, 0);
};

const isInf: OpEvaluator = (inputs, node) => {
  const negative = attrInt(node, 'detect_negative', 1) !== 0;
  const positive = attrInt(node, 'detect_positive', 1) !== 0;
  return unary((x) => ((x === Infinity && positive) || (x === -Infinity && negative) ? 1 : 0), 'bool')(inputs, node, 0);
};

// ---------------------------------------------------------------------------------------------------------
// Binary and variadic, broadcast

function binary(f: (a: number, b: number) => number, type?: OnnxDataType): OpEvaluator {
  return (inputs, node) => {
    const a = required(inputs, 0, node);
    const b = required(inputs, 1, node);
    return [mapBroadcast([a, b], type ?? a.dataType, node, f)];
  };
}

/** Div: exact for floats, truncating toward zero for integers. */
const div: OpEvaluator = (inputs, node) => {
  const a = required(inputs, 0, node);
  if (isFloatType(a.dataType)) return binary((x, y) => x / y)(inputs, node, 0);
  return binary((x, y) => Math.trunc(x / y))(inputs, node, 0);
};

/** Pow: the base's type; an integer base truncates (as C's pow cast back to the integer type). */
const pow: OpEvaluator = (inputs, node) => {
  const a = required(inputs, 0, node);
  if (isFloatType(a.dataType)) return binary(Math.pow)(inputs, node, 0);
  return binary((x, y) => Math.trunc(Math.pow(x, y)))(inputs, node, 0);
};

/** Mod: fmod=0 takes the divisor's sign (integers only), fmod=1 the dividend's (C's fmod). */
const mod: OpEvaluator = (inputs, node) => {
  const fmod = attrInt(node, 'fmod', 0) !== 0;
  const a = required(inputs, 0, node);
  if (!fmod && isFloatType(a.dataType)) throw opError(node, 'Mod of floats needs fmod=1');
  return binary((x, y) => {
    const r = x % y;
    return !fmod && r !== 0 && Math.sign(r) !== Math.sign(y) ? r + y : r;
  })(inputs, node, 0);
};

/** max/min that propagate NaN. */
const maximum = (a: number, b: number) => (Number.isNaN(a) || a >= b ? a : b);
const minimum = (a: number, b: number) => (Number.isNaN(a) || a <= b ? a : b);

function variadic(reduce: (values: number[]) => number): OpEvaluator {
  return (inputs, node) => {
    const present = inputs.filter((t): t is Tensor64 => t !== undefined);
    if (present.length === 0) throw opError(node, 'needs at least one input');
    return [mapBroadcast(present, present[0].dataType, node, (...xs) => reduce(xs))];
  };
}

const where: OpEvaluator = (inputs, node) => {
  const [condition, x, y] = [0, 1, 2].map((i) => required(inputs, i, node));
  return [mapBroadcast([condition, x, y], x.dataType, node, (c, a, b) => (c !== 0 ? a : b))];
};

/** Clip: min and max from inputs 1 and 2 (opset 11+) or attributes (before); either may be absent. */
const clip: OpEvaluator = (inputs, node, opset) => {
  const x = required(inputs, 0, node);
  const bound = (i: number, name: string, fallback: number) => {
    const t = inputs[i];
    if (t !== undefined) return t.data[0];
    return opset < 11 ? attrFloat(node, name, fallback) : fallback;
  };
  const low = bound(1, 'min', -Infinity);
  const high = bound(2, 'max', Infinity);
  return unary((v) => (Number.isNaN(v) ? v : Math.min(Math.max(v, low), high)))([x], node, opset);
};

// ---------------------------------------------------------------------------------------------------------
// Cast

const INTEGER_RANGES: Partial<Record<OnnxDataType, [number, number]>> = {
  int8: [-128, 256], uint8: [0, 256], int16: [-32768, 65536], uint16: [0, 65536],
  int32: [-2147483648, 4294967296], uint32: [0, 4294967296],
};

/** One element converted to `type`: bool is x ≠ 0, integers truncate (and wrap, up to 32 bits), floats stay. */
export function castValue(x: number, type: OnnxDataType): number {
  if (type === 'bool') return x !== 0 ? 1 : 0;
  if (isFloatType(type)) return x;
  if (!Number.isFinite(x)) return 0;
  const truncated = Math.trunc(x);
  const range = INTEGER_RANGES[type];
  if (!range) return truncated;
  const [low, span] = range;
  return ((((truncated - low) % span) + span) % span) + low;
}

function castTo(x: Tensor64, type: OnnxDataType): Tensor64 {
  const out = tensor(type, x.dims);
  for (let i = 0; i < out.data.length; i++) out.data[i] = castValue(x.data[i], type);
  return out;
}

const cast: OpEvaluator = (inputs, node) => {
  const to = attrInt(node, 'to');
  if (to === undefined) throw opError(node, 'Cast has no "to" attribute');
  return [castTo(required(inputs, 0, node), dataTypeFromNumber(to, node))];
};

const castLike: OpEvaluator = (inputs, node) => [castTo(required(inputs, 0, node), required(inputs, 1, node).dataType)];

// ---------------------------------------------------------------------------------------------------------
// Identity and inference Dropout

const identity: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  return [tensor(x.dataType, x.dims, x.data.slice())];
};

const dropout: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  return [tensor(x.dataType, x.dims, x.data.slice()), tensor('bool', x.dims, new Float64Array(x.data.length).fill(1))];
};

const bool = (b: boolean) => (b ? 1 : 0);

export const elementwiseOps: Record<string, OpEvaluator> = {
  Identity: identity,
  Dropout: dropout,
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Sign: unary(Math.sign),
  Sqrt: unary(Math.sqrt),
  Reciprocal: unary((x) => 1 / x),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Tanh: unary(Math.tanh),
  Erf: unary(erf),
  Sigmoid: unary(sigmoid),
  Relu: unary((x) => (x > 0 ? x : 0)),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  Round: unary(roundHalfEven),
  Sin: unary(Math.sin),
  Cos: unary(Math.cos),
  Gelu: gelu,
  Not: unary((x) => bool(x === 0), 'bool'),
  IsNaN: unary((x) => bool(Number.isNaN(x)), 'bool'),
  IsInf: isInf,
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: div,
  Pow: pow,
  Mod: mod,
  Equal: binary((a, b) => bool(a === b), 'bool'),
  Less: binary((a, b) => bool(a < b), 'bool'),
  LessOrEqual: binary((a, b) => bool(a <= b), 'bool'),
  Greater: binary((a, b) => bool(a > b), 'bool'),
  GreaterOrEqual: binary((a, b) => bool(a >= b), 'bool'),
  And: binary((a, b) => bool(a !== 0 && b !== 0), 'bool'),
  Or: binary((a, b) => bool(a !== 0 || b !== 0), 'bool'),
  Xor: binary((a, b) => bool((a !== 0) !== (b !== 0)), 'bool'),
  Sum: variadic((xs) => xs.reduce((s, x) => s + x, 0)),
  Mean: variadic((xs) => xs.reduce((s, x) => s + x, 0) / xs.length),
  Max: variadic((xs) => xs.reduce(maximum)),
  Min: variadic((xs) => xs.reduce(minimum)),
  Where: where,
  Clip: clip,
  Cast: cast,
  CastLike: castLike,
};

/** The output type of each op above, from its node and its first input's type (for shape inference). */
export function elementwiseOutputType(node: OnnxNode, inputTypes: Array<OnnxDataType | undefined>): OnnxDataType[] {
  const first = inputTypes[0] ?? 'float32';
  switch (node.opType) {
    case 'Not': case 'IsNaN': case 'IsInf': case 'Equal': case 'Less': case 'LessOrEqual': case 'Greater':
    case 'GreaterOrEqual': case 'And': case 'Or': case 'Xor':
      return ['bool'];
    case 'Where': return [inputTypes[1] ?? first];
    case 'Cast': return [dataTypeFromNumber(attrInt(node, 'to', 1), node)];
    case 'CastLike': return [inputTypes[1] ?? first];
    case 'Dropout': return [first, 'bool'];
    default: return [first];
  }
}
