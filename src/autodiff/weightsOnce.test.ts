/**
 * weightsOnce on a vjp-like graph: the forward multiplies by W (Gemm), the backward by Transpose(W) (MatMul) on
 * a 2-D, a 3-D static and a 3-D symbolic activation, a tied projection reads Transpose(Transpose(E)), and one
 * Transpose has another reader. The rewritten graph computes the same values (reference evaluator, float64) and
 * reads no Transpose of a weight but the one still needed; in ORT it holds one float32 copy of each weight
 * (src/engine/gpuMemory.test.ts measures that).
 */
import { describe, expect, it } from 'vitest';
import type { OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from '../formats/onnxModel.ts';
import { evaluate } from './evaluate.ts';
import { floats, seeded } from './testing/ortReference.ts';
import { weightsOnce } from './weightsOnce.ts';

const node = (opType: string, inputs: string[], output: string, attributes: OnnxNode['attributes'] = {}): OnnxNode =>
  ({ opType, domain: '', name: `${opType}:${output}`, inputs, outputs: [output], attributes });
const value = (name: string, shape?: OnnxValueInfo['shape']): OnnxValueInfo => ({ name, dataType: 'float32', shape });
const weight = (name: string, dims: number[], random: () => number): OnnxTensor =>
  ({ name, dataType: 'float32', dims, values: Float32Array.from(floats(random, dims).data) });
const perm = (...axes: number[]): OnnxNode['attributes'] => ({ perm: { type: 'ints', value: axes } });

/** W and U [3, 5] (the forward x [4, 3] → y [4, 5], the backward dY [.., 5] → dX [.., 3]); E [7, 3] a tied table. */
function vjpLike(): OnnxModel {
  const random = seeded(7);
  return {
    irVersion: 8, opsets: [{ domain: '', version: 17 }], producerName: 'test', producerVersion: '', metadata: {},
    graph: {
      name: 'vjp-like',
      inputs: [value('x', [4, 3]), value('dy2', [4, 5]), value('dy3', [2, 4, 5]), value('dys', ['b', 't', 5]), value('h', [4, 3]), value('g', [4, 7])],
      initializers: [weight('w', [3, 5], random), weight('e', [7, 3], random), weight('u', [3, 5], random)],
      nodes: [
        node('Identity', ['w'], 'w32'), // as Cast(float16 W) would be
        node('Gemm', ['x', 'w32'], 'y'),
        node('Transpose', ['w32'], 'wT', perm(1, 0)),
        node('MatMul', ['dy2', 'wT'], 'dx2'),
        node('MatMul', ['dy3', 'wT'], 'dx3'),
        node('MatMul', ['dys', 'wT'], 'dxs'),
        node('Transpose', ['e'], 'eT'), // default perm: reversed
        node('MatMul', ['h', 'eT'], 'logits'),
        node('Transpose', ['eT'], 'eTT'),
        node('MatMul', ['g', 'eTT'], 'dh'),
        node('Transpose', ['u'], 'uT', perm(1, 0)),
        node('MatMul', ['dy2', 'uT'], 'du'),
        node('Neg', ['uT'], 'minusUT'), // another reader: uT stays
      ],
      outputs: [value('y'), value('dx2'), value('dx3'), value('dxs'), value('logits'), value('dh'), value('du'), value('minusUT')],
      valueInfo: [value('dy2', [4, 5]), value('h', [4, 3])],
    },
  };
}

describe('weightsOnce: MatMul(A, Transpose(W)) → Gemm(…, W, transB = 1), Transpose pairs cancelled', () => {
  const random = seeded(11);
  const feeds = {
    x: floats(random, [4, 3]), dy2: floats(random, [4, 5]), dy3: floats(random, [2, 4, 5]), dys: floats(random, [2, 3, 5]),
    h: floats(random, [4, 3]), g: floats(random, [4, 7]),
  };
  const before = vjpLike();
  const { model: after, rewritten } = weightsOnce(before);

  it('computes the same values', () => {
    const want = evaluate(before.graph, feeds);
    const got = evaluate(after.graph, feeds);
    for (const [name, tensor] of Object.entries(want)) {
      expect(got[name].dims, name).toEqual(tensor.dims);
      got[name].data.forEach((v, i) => expect(v, `${name}[${i}]`).toBeCloseTo(tensor.data[i], 12));
    }
  });

  it('leaves no Transpose of a weight but the one something else reads', () => {
    // dx2, dx3, dxs, logits, du: five MatMuls; dh reads E through the cancelled pair.
    expect(rewritten).toEqual({ matMuls: 5, transposePairs: 1 });
    const transposes = after.graph.nodes.filter((n) => n.opType === 'Transpose').map((n) => n.inputs[0]);
    expect(transposes).toEqual(['u']);
    expect(after.graph.nodes.filter((n) => n.opType === 'MatMul').map((n) => n.inputs)).toEqual([['g', 'e']]);
    // The 2-D ones are one Gemm; the 3-D static one reshapes with constants; the symbolic one reads its shape.
    const shapeOps = after.graph.nodes.filter((n) => n.opType === 'Shape').map((n) => n.inputs[0]);
    expect(shapeOps).toEqual(['dys']);
  });

  it('is idempotent, and leaves a graph without the pattern as it was', () => {
    const again = weightsOnce(after);
    expect(again.rewritten).toEqual({ matMuls: 0, transposePairs: 0 });
    expect(again.model.graph.nodes).toEqual(after.graph.nodes);
  });

  it('a Transpose of an activation (not a weight) is left alone', () => {
    const model = vjpLike();
    model.graph.nodes = [node('Transpose', ['h'], 'hT', perm(1, 0)), node('MatMul', ['x', 'hT'], 'xhT')];
    model.graph.outputs = [value('xhT')];
    const { model: out, rewritten: r } = weightsOnce(model);
    expect(r).toEqual({ matMuls: 0, transposePairs: 0 });
    expect(out.graph.nodes).toEqual(model.graph.nodes);
  });
});
