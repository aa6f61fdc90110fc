/**
 * inlineConstantIfs on a merged-decoder-like graph: an If on a bool input whose else branch has its own
 * initializer, a nested If on a Constant, and outputs made in the branch, read from outside it, or a branch
 * initializer; the bound input and the inputs only the other branch read go, symbolic shapes stay.
 */
import { describe, expect, it } from 'vitest';
import { PackageError } from '../errors.ts';
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../formats/onnxModel.ts';
import { evaluate } from './evaluate.ts';
import { inlineConstantIfs } from './inlineIf.ts';
import { t64 } from './testing/ortReference.ts';

const f32 = (name: string, values: number[]): OnnxTensor => ({ name, dataType: 'float32', dims: [values.length], values: Float32Array.from(values) });
const node = (opType: string, inputs: string[], output: string, attributes: OnnxNode['attributes'] = {}): OnnxNode =>
  ({ opType, domain: '', name: `${opType}:${output}`, inputs, outputs: [output], attributes });
const branch = (name: string, nodes: OnnxNode[], outputs: string[], initializers: OnnxTensor[] = []): OnnxGraph =>
  ({ name, nodes, initializers, inputs: [], outputs: outputs.map((o) => ({ name: o, dataType: 'float32', shape: ['n'] })), valueInfo: [] });
const flag = (on: boolean): OnnxTensor => ({ name: 'use_cache_branch', dataType: 'bool', dims: [1], values: Uint8Array.of(on ? 1 : 0) });

function mergedLike(): OnnxModel {
  const nested = node('If', ['cond2'], 'nested', {
    then_branch: { type: 'graph', value: branch('nested_then', [node('Add', ['y', 'c'], 'z')], ['z']) },
    else_branch: { type: 'graph', value: branch('nested_else', [node('Sub', ['y', 'c'], 'z')], ['z']) },
  });
  const noCache = branch('no_cache', [
    node('Mul', ['x', 'w'], 'y'),
    node('Constant', [], 'cond2', { value: { type: 'tensor', value: { name: 'cond2', dataType: 'bool', dims: [], values: Uint8Array.of(1) } } }),
    nested,
  ], ['nested', 'x', 'c'], [f32('c', [5])]);
  const withPast = branch('with_past', [node('Add', ['x', 'past'], 'y')], ['y', 'past', 'x']);
  const vector = (name: string) => ({ name, dataType: 'float32' as const, shape: ['n'] as string[] });
  return {
    irVersion: 8, opsets: [{ domain: '', version: 17 }], producerName: 'test', producerVersion: '', metadata: {},
    graph: {
      name: 'merged',
      inputs: [vector('x'), vector('past'), { name: 'use_cache_branch', dataType: 'bool', shape: [1] }],
      initializers: [f32('w', [2, 3, 4])],
      nodes: [{ ...node('If', ['use_cache_branch'], 'a'), outputs: ['a', 'b', 'e'], attributes: { then_branch: { type: 'graph', value: withPast }, else_branch: { type: 'graph', value: noCache } } }],
      outputs: [vector('a'), vector('b'), vector('e')],
      valueInfo: [],
    },
  };
}

const x = t64('float32', [3], [1, -2, 0.5]);
const values = (t: { data: ArrayLike<number> }) => Array.from(t.data);

describe('inlineConstantIfs', () => {
  it('use_cache_branch = false: the else branch, nested If inlined too; past and the flag are no longer inputs', () => {
    const { graph } = inlineConstantIfs(mergedLike(), { use_cache_branch: flag(false) });
    expect(graph.inputs.map((i) => i.name)).toEqual(['x']);
    expect(graph.inputs[0].shape).toEqual(['n']);
    expect(graph.nodes.some((n) => n.opType === 'If')).toBe(false);
    expect(graph.outputs.map((o) => o.name)).toEqual(['a', 'b', 'e']);
    const out = evaluate(graph, { x });
    expect(values(out.a)).toEqual([7, -1, 7]); // x · w + 5, the nested If's then branch
    expect(values(out.b)).toEqual([1, -2, 0.5]);
    expect(values(out.e)).toEqual([5]);
  });

  it('use_cache_branch = true: the then branch, which reads past', () => {
    const { graph } = inlineConstantIfs(mergedLike(), { use_cache_branch: flag(true) });
    expect(graph.inputs.map((i) => i.name)).toEqual(['x', 'past']);
    expect(graph.initializers).toEqual([]);
    const out = evaluate(graph, { x, past: t64('float32', [3], [10, 20, 30]) });
    expect(values(out.a)).toEqual([11, 18, 30.5]);
    expect(values(out.b)).toEqual([10, 20, 30]);
    expect(values(out.e)).toEqual([1, -2, 0.5]);
  });

  it('refuses a value for a name that is not an input, or of another type', () => {
    expect(() => inlineConstantIfs(mergedLike(), { cache: flag(false) })).toThrow(PackageError);
    expect(() => inlineConstantIfs(mergedLike(), { use_cache_branch: f32('use_cache_branch', [0]) })).toThrow(/is bool, its constant is float32/);
  });
});
