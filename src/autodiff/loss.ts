/**
 * The training loss, appended to a decoder's graph as the project's exporters write it (tools/adalink/model.py,
 * `cross_entropy`; docs/ENGINE.md §1, vjp `loss`): the mean token cross-entropy over the labels ≠ −100 of the
 * whole batch, from logits [B, N, V] and labels [B, N].
 *
 *   valid     = labels ≠ −100
 *   shifted   = logits − max_v logits                   (the max detached: log-softmax does not depend on it)
 *   log p     = shifted − log Σ_v exp(shifted)          (log-softmax with plain ops: WebGPU has no LogSoftmax kernel)
 *   picked    = log p[label]                           (int64 labels: GatherElements at where(valid, label, 0);
 *                                                       int32 labels, the GPU-input form: a one-hot product)
 *   loss      = −Σ picked · valid / Σ valid
 *
 * It returns the graph with `loss` as an output, the static types of the new values, and the value to pass to
 * buildVjp as `detach` (the max).
 */
import type { OnnxDataType, OnnxModel } from '../formats/onnxModel.ts';
import { PackageError, shorten } from '../errors.ts';
import type { StaticValue, ValueTable } from './values.ts';
import { Emitter, type AttributeValue, isFloat, onnxTypeNumber } from './rules/emitter.ts';

export interface CrossEntropyRequest {
  /** Logits [B, N, V], float. */
  logits: string;
  /** Target ids [B, N], int64 or int32; −100 where there is no target. */
  labels: string;
  /** Name of the scalar loss (default "loss"). */
  loss?: string;
}

export interface WithLoss {
  model: OnnxModel;
  values: ValueTable;
  loss: string;
  /** Values buildVjp should treat as constants (VjpRequest.detach). */
  detach: string[];
}

export const IGNORE_INDEX = -100;

export function appendCrossEntropy(model: OnnxModel, values: ValueTable, request: CrossEntropyRequest): WithLoss {
  const graph = model.graph;
  const where = `graph "${shorten(graph.name)}"`;
  const logits = values.get(request.logits);
  const labels = values.get(request.labels);
  const lossName = request.loss ?? 'loss';
  if (!logits || !isFloat(logits.dataType) || logits.shape.length !== 3) {
    throw new PackageError(`the logits "${shorten(request.logits)}" are not a float [B, N, V] value of the graph`, where, 'Name the decoder\'s logits output.');
  }
  if (!labels || (labels.dataType !== 'int64' && labels.dataType !== 'int32') || labels.shape.length !== 2
    || labels.shape[0] !== logits.shape[0] || labels.shape[1] !== logits.shape[1]) {
    throw new PackageError(`the labels "${shorten(request.labels)}" are not int64 or int32 [${logits.shape.slice(0, 2)}]`, where,
      'Give the labels as a graph input of int64 (or int32) target ids, one per decoder position.');
  }
  if (values.has(lossName)) throw new PackageError(`the graph already has a value "${shorten(lossName)}"`, where, 'Choose another name for the loss.');
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  const names = new Set([...values.keys(), ...graph.nodes.map((n) => n.name)]);
  let k = 0;
  while ([...names].some((n) => n.startsWith(k ? `loss${k}/` : 'loss/'))) k++;
  const e = new Emitter(k ? `loss${k}/` : 'loss/');

  const out = new Map<string, StaticValue>(values);
  const [B, N, V] = logits.shape;
  const float: OnnxDataType = logits.dataType;
  /** One node, its output's static type recorded. */
  const add = (opType: string, inputs: string[], type: StaticValue, label: string, attributes: Record<string, AttributeValue> = {}, name?: string): string => {
    const output = e.node(opType, inputs, attributes, name ? [name] : 1, label)[0];
    out.set(output, type);
    return output;
  };
  const rows = (dataType: OnnxDataType, last = V): StaticValue => ({ dataType, shape: [B, N, last] });
  const perToken = (dataType: OnnxDataType): StaticValue => ({ dataType, shape: [B, N] });
  const scalar: StaticValue = { dataType: float, shape: [] };
  const lastAxis = e.ints([2], 'axes');
  const allAxes = e.ints([0, 1], 'axes');

  const ignored = add('Equal', [request.labels, e.constant(labels.dataType, [], [IGNORE_INDEX], 'ignore_index')], perToken('bool'), 'is_ignored');
  const valid = add('Not', [ignored], perToken('bool'), 'valid');
  const max = opset >= 18
    ? add('ReduceMax', [request.logits, lastAxis], rows(float, 1), 'max', { keepdims: 1 })
    : add('ReduceMax', [request.logits], rows(float, 1), 'max', { axes: [2], keepdims: 1 });
  const shifted = add('Sub', [request.logits, max], rows(float), 'shifted');
  const sumExp = add('ReduceSum', [add('Exp', [shifted], rows(float), 'exp'), lastAxis], rows(float, 1), 'sum_exp', { keepdims: 1 });
  const logProbs = add('Sub', [shifted, add('Log', [sumExp], rows(float, 1), 'log_sum_exp')], rows(float), 'log_probs');

  let picked: string;
  if (labels.dataType === 'int64') {
    const safe = add('Where', [valid, request.labels, e.constant('int64', [], [0], 'zero')], perToken('int64'), 'safe_labels');
    const index = add('Reshape', [safe, e.ints([B, N, 1], 'shape')], rows('int64', 1), 'label_index');
    const gathered = add('GatherElements', [logProbs, index], rows(float, 1), 'gathered', { axis: -1 });
    picked = add('Reshape', [gathered, e.ints([B, N], 'shape')], perToken(float), 'picked');
  } else {
    const index = add('Reshape', [request.labels, e.ints([B, N, 1], 'shape')], rows('int32', 1), 'label_index');
    const vocabulary = e.constant('int32', [V], Array.from({ length: V }, (_, i) => i), 'vocabulary');
    const hot = add('Cast', [add('Equal', [index, vocabulary], rows('bool'), 'is_label')], rows(float), 'onehot', { to: onnxTypeNumber(float) });
    picked = add('ReduceSum', [add('Mul', [logProbs, hot], rows(float), 'log_p_label'), lastAxis], perToken(float), 'picked', { keepdims: 0 });
  }
  const weight = add('Cast', [valid], perToken(float), 'weight', { to: onnxTypeNumber(float) });
  const total = add('ReduceSum', [add('Mul', [picked, weight], perToken(float), 'weighted'), allAxes], scalar, 'total', { keepdims: 0 });
  const count = add('ReduceSum', [weight, allAxes], scalar, 'count', { keepdims: 0 });
  add('Div', [add('Neg', [total], scalar, 'minus_total'), count], scalar, 'loss', {}, lossName);

  for (const t of e.initializers) out.set(t.name, { dataType: t.dataType, shape: t.dims });
  return {
    model: {
      ...model,
      graph: {
        ...graph,
        nodes: [...graph.nodes, ...e.nodes],
        initializers: [...graph.initializers, ...e.initializers],
        outputs: [...graph.outputs, { name: lossName, dataType: float, shape: [] }],
      },
    },
    values: out,
    loss: lossName,
    detach: [max],
  };
}
