/**
 * Ops that make a tensor from attributes and small integer inputs alone: Constant, ConstantOfShape, Range.
 *
 * ONNX semantics: Constant holds exactly one of value (a tensor), value_float/value_floats (float32),
 * value_int/value_ints (int64); value_string(s) and sparse_value are not handled. ConstantOfShape fills the
 * 1-D int64 shape it is given with its `value` (a 1-element tensor, float32 0 by default). Range gives
 * start + i·delta for i < max(⌈(limit − start)/delta⌉, 0), in start's type.
 */
import type { OnnxDataType, OnnxNode, OnnxTensor } from '../../formats/onnxModel.ts';
import type { Tensor64 } from '../values.ts';
import { tensor64FromOnnx } from './convert.ts';
import { attrTensor, intsOf, opError, required, sizeOf, tensor, type OpEvaluator } from './tensor.ts';

/** A Constant node's value as an OnnxTensor (named after its output), without converting its elements. */
export function constantValue(node: OnnxNode): OnnxTensor {
  const name = node.outputs[0];
  const [key, ...others] = Object.keys(node.attributes);
  if (key === undefined || others.length > 0) throw opError(node, 'a Constant needs exactly one value attribute');
  const a = node.attributes[key];
  switch (key) {
    case 'value':
      if (a.type !== 'tensor') break;
      return { ...a.value, name };
    case 'value_float':
      if (a.type !== 'float') break;
      return { name, dataType: 'float32', dims: [], values: Float32Array.of(a.value) };
    case 'value_floats':
      if (a.type !== 'floats') break;
      return { name, dataType: 'float32', dims: [a.value.length], values: Float32Array.from(a.value) };
    case 'value_int':
      if (a.type !== 'int') break;
      return { name, dataType: 'int64', dims: [], values: BigInt64Array.of(BigInt(a.value)) };
    case 'value_ints':
      if (a.type !== 'ints') break;
      return { name, dataType: 'int64', dims: [a.value.length], values: BigInt64Array.from(a.value, (v) => BigInt(v)) };
    default:
      throw opError(node, `Constant's ${key} is not supported by the evaluator`);
  }
  throw opError(node, `Constant's ${key} attribute has type ${a.type}`);
}

/** The value ConstantOfShape fills with: its type and the number. */
export function fillValue(node: OnnxNode): { dataType: OnnxDataType; value: number } {
  const t = attrTensor(node, 'value');
  if (t === undefined) return { dataType: 'float32', value: 0 };
  const value = tensor64FromOnnx(t);
  if (value.data.length !== 1) throw opError(node, 'ConstantOfShape value must hold one element');
  return { dataType: value.dataType, value: value.data[0] };
}

/** The number of elements Range gives. */
export function rangeLength(start: number, limit: number, delta: number, node: OnnxNode): number {
  if (delta === 0) throw opError(node, 'Range with delta 0');
  return Math.max(Math.ceil((limit - start) / delta), 0);
}

const constantOfShape: OpEvaluator = (inputs, node) => {
  const dims = intsOf(required(inputs, 0, node));
  if (dims.some((d) => d < 0 || !Number.isInteger(d))) throw opError(node, `ConstantOfShape of [${dims.join(', ')}]`);
  const { dataType, value } = fillValue(node);
  return [tensor(dataType, dims, new Float64Array(sizeOf(dims)).fill(value))];
};

const range: OpEvaluator = (inputs, node) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => required(inputs, i, node).data[0]);
  const n = rangeLength(start, limit, delta, node);
  const type = required(inputs, 0, node).dataType;
  return [tensor(type, [n], Float64Array.from({ length: n }, (_, i) => start + i * delta))];
};

export const generateOps: Record<string, OpEvaluator> = {
  Constant: (_inputs, node): Tensor64[] => [tensor64FromOnnx(constantValue(node))],
  ConstantOfShape: constantOfShape,
  Range: range,
};
