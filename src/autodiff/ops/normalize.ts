/**
 * Normalisations along axes: Softmax, LogSoftmax and LayerNormalization.
 *
 * ONNX semantics: from opset 13 Softmax/LogSoftmax normalise along one axis (default −1); before 13 the input
 * is seen as a matrix [Π dims[:axis], Π dims[axis:]] (axis default 1) and each row is normalised.
 * LayerNormalization (opset 17) normalises over dims[axis:] (axis default −1) with epsilon (default 1e-5),
 * then multiplies by Scale and adds the optional B (both broadcast onto X); its optional outputs Mean and
 * InvStdDev have X's dims up to axis and 1 after, in stash_type (float32 by default).
 */
import type { OnnxDataType, OnnxNode } from '../../formats/onnxModel.ts';
import {
  attrFloat, attrInt, dataTypeFromNumber, mapBroadcast, normaliseAxis, required, tensor, type OpEvaluator,
} from './tensor.ts';

/** The [outer, n] rows a Softmax/LogSoftmax normalises: n consecutive elements … or strided, since opset 13. */
function softmaxRows(node: OnnxNode, dims: readonly number[], opset: number): { outer: number; n: number; inner: number } {
  const rank = dims.length;
  if (opset >= 13) {
    const axis = normaliseAxis(attrInt(node, 'axis', -1), rank, node);
    const size = (from: number, to: number) => dims.slice(from, to).reduce((a, b) => a * b, 1);
    return { outer: size(0, axis), n: dims[axis], inner: size(axis + 1, rank) };
  }
  const axis = rank === 0 ? 0 : normaliseAxis(attrInt(node, 'axis', 1), rank, node);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  return { outer, n: dims.slice(axis).reduce((a, b) => a * b, 1), inner: 1 };
}

function softmaxLike(log: boolean): OpEvaluator {
  return (inputs, node, opset) => {
    const x = required(inputs, 0, node);
    const { outer, n, inner } = softmaxRows(node, x.dims, opset);
    const out = tensor(x.dataType, x.dims);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const at = (j: number) => (o * n + j) * inner + i;
        let max = -Infinity;
        for (let j = 0; j < n; j++) max = Math.max(max, x.data[at(j)]);
        let sum = 0;
        for (let j = 0; j < n; j++) sum += Math.exp(x.data[at(j)] - max);
        for (let j = 0; j < n; j++) {
          const shifted = x.data[at(j)] - max;
          out.data[at(j)] = log ? shifted - Math.log(sum) : Math.exp(shifted) / sum;
        }
      }
    }
    return [out];
  };
}

/** LayerNormalization's geometry: the first normalised axis, and the dims of Mean and InvStdDev. */
export function layerNormGeometry(node: OnnxNode, dims: readonly number[]): { axis: number; statDims: number[]; statType: OnnxDataType } {
  const axis = normaliseAxis(attrInt(node, 'axis', -1), dims.length, node);
  return { axis, statDims: dims.map((d, k) => (k < axis ? d : 1)), statType: dataTypeFromNumber(attrInt(node, 'stash_type', 1), node) };
}

const layerNormalization: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  const scale = required(inputs, 1, node);
  const bias = inputs[2];
  const epsilon = attrFloat(node, 'epsilon', 1e-5);
  const { statDims, statType } = layerNormGeometry(node, x.dims);
  const rows = statDims.reduce((a, b) => a * b, 1);
  const n = x.data.length / Math.max(1, rows);
  const normalised = tensor(x.dataType, x.dims);
  const mean = tensor(statType, statDims);
  const invStdDev = tensor(statType, statDims);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += x.data[r * n + j];
    const mu = sum / n;
    let squares = 0;
    for (let j = 0; j < n; j++) squares += (x.data[r * n + j] - mu) ** 2;
    const inv = 1 / Math.sqrt(squares / n + epsilon);
    mean.data[r] = mu;
    invStdDev.data[r] = inv;
    for (let j = 0; j < n; j++) normalised.data[r * n + j] = (x.data[r * n + j] - mu) * inv;
  }
  const scaled = mapBroadcast([normalised, scale], x.dataType, node, (v, s) => v * s);
  const y = bias ? mapBroadcast([scaled, bias], x.dataType, node, (v, b) => v + b) : scaled;
  return [y, mean, invStdDev];
};

export const normalizeOps: Record<string, OpEvaluator> = {
  Softmax: softmaxLike(false),
  LogSoftmax: softmaxLike(true),
  LayerNormalization: layerNormalization,
};
