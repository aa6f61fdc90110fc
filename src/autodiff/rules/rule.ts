/**
 * What a gradient rule is. A rule sees one forward node (its inputs' and outputs' static types, its attributes,
 * its constant inputs) and the gradients of its outputs, and writes the nodes that compute the gradients of its
 * active inputs: the vector-Jacobian product of that one op. It returns one gradient name per input (undefined
 * where the input is not active or gets none). src/autodiff/vjp.ts calls the rules in reverse order and sums
 * what they return.
 */
import type { OnnxAttribute, OnnxDataType, OnnxNode } from '../../formats/onnxModel.ts';
import type { StaticValue } from '../values.ts';
import { PackageError } from '../../errors.ts';
import type { Emitter } from './emitter.ts';

export type Rule = (g: NodeGradient) => Array<string | undefined>;

/** What vjp.ts knows of the graph, for rules. */
export interface GraphFacts {
  /** Static type and shape of any value. */
  typeOf(name: string): StaticValue;
  /** The elements of a constant value (initializer or Constant output), as numbers; undefined if not constant. */
  constantOf(name: string): number[] | undefined;
}

/** One node seen by its rule. */
export class NodeGradient {
  constructor(
    readonly node: OnnxNode,
    /** Where the rule writes its nodes. */
    readonly emit: Emitter,
    private readonly facts: GraphFacts,
    /** Per input: does it need a gradient (depends on a wrt input, is a float)? */
    private readonly active: boolean[],
    /** Per output: its gradient, or undefined when none reaches it. */
    readonly dOutputs: Array<string | undefined>,
  ) {}

  /** Name of input i ('' when omitted). */
  input(i: number): string {
    return this.node.inputs[i] ?? '';
  }

  output(k = 0): string {
    return this.node.outputs[k];
  }

  has(i: number): boolean {
    return this.input(i) !== '';
  }

  wants(i: number): boolean {
    return this.active[i] ?? false;
  }

  /** Gradient of output 0 (a rule is only called when some output has one). */
  get dY(): string {
    const d = this.dOutputs[0];
    if (d === undefined) throw new Error(`${this.node.opType}: output 0 has no gradient`);
    return d;
  }

  typeOf(name: string): StaticValue {
    return this.facts.typeOf(name);
  }

  shapeIn(i: number): number[] {
    return this.facts.typeOf(this.input(i)).shape;
  }

  shapeOut(k = 0): number[] {
    return this.facts.typeOf(this.output(k)).shape;
  }

  /** Element type of output 0: the type of the gradients rules compute. */
  get dataType(): OnnxDataType {
    return this.facts.typeOf(this.output(0)).dataType;
  }

  /** Constant elements of input i, or undefined. */
  constantIn(i: number): number[] | undefined {
    return this.has(i) ? this.facts.constantOf(this.input(i)) : undefined;
  }

  /** Constant elements of input i, which the rule needs: a clear error otherwise. */
  requireConstant(i: number, what: string): number[] {
    const values = this.constantIn(i);
    if (!values) {
      throw new PackageError(`the gradient of ${this.node.opType} needs its ${what} (input ${i}, "${this.input(i)}") to be a constant`,
        `node ${this.node.name}`, 'Specialise the graph first (src/autodiff/specialise.ts folds shape arithmetic into constants).');
    }
    return values;
  }

  private attribute(name: string): OnnxAttribute | undefined {
    return this.node.attributes[name];
  }

  int(name: string, fallback: number): number {
    const a = this.attribute(name);
    return a && a.type === 'int' ? a.value : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.attribute(name);
    return a && a.type === 'float' ? a.value : fallback;
  }

  ints(name: string): number[] | undefined {
    const a = this.attribute(name);
    return a && a.type === 'ints' ? a.value : undefined;
  }

  string(name: string, fallback: string): string {
    const a = this.attribute(name);
    return a && a.type === 'string' ? a.value : fallback;
  }

  /** A negative axis counted from the end. */
  axis(axis: number, rank: number): number {
    return axis < 0 ? axis + rank : axis;
  }

  /** `g` (of shape gShape) summed down to input i's shape. */
  unbroadcastTo(i: number, g: string, gShape: readonly number[], label = `d${i}`): string {
    return this.emit.unbroadcast(g, gShape, this.shapeIn(i), label);
  }

  /** A scalar constant of the gradient's type. */
  scalar(value: number): string {
    return this.emit.scalar(value, this.dataType);
  }

  /** A refusal that names the op and node, for a variant of an op the rule does not cover. */
  refuse(problem: string, fix: string): never {
    throw new PackageError(`no gradient for ${this.node.opType} ${problem}`, `node ${this.node.name}`, fix);
  }
}
