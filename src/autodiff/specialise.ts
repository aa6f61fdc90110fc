/**
 * Specialise: a graph with symbolic input dims (batch, sequence lengths) → the same graph for one fixed set of
 * input shapes, where every value has a static shape and the shape arithmetic is gone.
 *
 * 1. Bind: each graph input takes its shape from `shapes` (checked against the dims it fixes, and a dim name
 *    used by two inputs must get one number) or becomes an initializer from `constants`.
 * 2. Walk the nodes in order. A node whose inputs are all constants is folded through the reference
 *    evaluator when cheap: integer and bool values always (the Shape → Gather → Concat → Reshape chains,
 *    Range, masks made from shapes), float values only when small (≤ FOLD_FLOAT_ELEMENTS), so weights are
 *    never pushed through float64. Shape and Size fold from static shapes alone. An `If` whose condition is
 *    a constant is replaced by its branch (inner values renamed uniquely, its outputs mapped to the If's); an
 *    `If` on data keeps both branches, each specialised. Every other node is kept and its outputs get static
 *    shapes from src/autodiff/shapes.ts; a big ConstantOfShape becomes Expand of its one value.
 * 3. Finish: constants read by kept nodes become initializers (int64 as BigInt64Array, bool as bytes …),
 *    dead nodes and unused inputs and initializers go, and every input, output and value_info gets its
 *    static shape, checked against the dims the original graph declared.
 */
import { PackageError } from '../errors.ts';
import type { OnnxDim, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from '../formats/onnxModel.ts';
import { DEFAULT_OPSET, neededNodes, OPS, unknownOpError, isKnownOp } from './evaluate.ts';
import { onnxFromTensor64, tensor64FromOnnx } from './ops/convert.ts';
import { constantValue, fillValue } from './ops/generate.ts';
import { shapeSlice } from './ops/reshape.ts';
import { attrGraph, isIntegerType, nodeWhere, opError, sizeOf, tensor } from './ops/tensor.ts';
import { inferShapes } from './shapes.ts';
import type { StaticValue, Tensor64, ValueTable } from './values.ts';
import { freshNames, renameNode } from './graphNames.ts';

/** Float values are folded (computed in float64 on the CPU) only up to this many elements … */
export const FOLD_FLOAT_ELEMENTS = 4096;
/** … and only from float inputs up to this many (a Gather from an embedding table is not folded). */
const FOLD_FLOAT_INPUT_ELEMENTS = 65536;
/** No value of any type bigger than this is folded. */
const FOLD_MAX_ELEMENTS = 1 << 22;

export interface SpecialiseOptions {
  /** The shape of each graph input that is not a constant. */
  shapes: Record<string, number[]>;
  /** Graph inputs fixed to a value (e.g. the merged decoder's use_cache_branch): they become initializers. */
  constants?: Record<string, OnnxTensor>;
}

const shown = (dims: readonly (OnnxDim | number)[]) => `[${dims.map((d) => d ?? '?').join(', ')}]`;

/** A constant: its ONNX tensor (an initializer, a Constant's value) and/or its float64 value, each made when first needed. */
class Constant {
  constructor(private onnx?: OnnxTensor, private value?: Tensor64) {}
  get static(): StaticValue {
    return this.onnx ? { dataType: this.onnx.dataType, shape: [...this.onnx.dims] } : { dataType: this.value!.dataType, shape: [...this.value!.dims] };
  }
  tensor64(): Tensor64 {
    this.value ??= tensor64FromOnnx(this.onnx!);
    return this.value;
  }
  initializer(name: string): OnnxTensor {
    return this.onnx ? { ...this.onnx, name } : onnxFromTensor64(name, this.value!);
  }
}

export function specialise(model: OnnxModel, options: SpecialiseOptions): { model: OnnxModel; values: ValueTable } {
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? DEFAULT_OPSET;
  const s = new Specialiser(model.graph, opset);
  const inputs = s.bindInputs(options);
  const nodes = s.walk(model.graph.nodes);
  const graph = s.finishGraph(model.graph, nodes, inputs, true);
  const values: ValueTable = new Map();
  collectValues(graph, values, s.values);
  return { model: { ...model, graph }, values };
}

class Specialiser {
  /** Static type and shape of every value seen, by its (final) name. */
  readonly values: ValueTable = new Map();
  readonly constants = new Map<string, Constant>();
  /** Names that stand for another value (an inlined If's outputs that are outer values). */
  private readonly alias = new Map<string, string>();
  /** Dim names bound by the inputs, for checking declared shapes. */
  private readonly symbols = new Map<string, { value: number; from: string }>();
  private readonly declared = new Map<string, OnnxValueInfo>();

  constructor(private readonly graph: OnnxGraph, private readonly opset: number) {
    this.fresh = freshNames(graph);
    for (const info of [...graph.valueInfo, ...graph.outputs]) this.declared.set(info.name, info);
  }

  /** Binds every graph input to a shape or a constant; returns the inputs that stay inputs. */
  bindInputs(options: SpecialiseOptions): OnnxValueInfo[] {
    const where = `graph "${this.graph.name}"`;
    const constants = options.constants ?? {};
    const inputNames = new Set(this.graph.inputs.map((i) => i.name));
    for (const name of [...Object.keys(options.shapes), ...Object.keys(constants)]) {
      if (!inputNames.has(name)) {
        throw new PackageError(`"${name}" is given a shape or value but is not a graph input (inputs: ${[...inputNames].join(', ')})`, where, 'Name graph inputs only.');
      }
    }
    for (const t of this.graph.initializers) this.setConstant(t.name, new Constant(t));
    const kept: OnnxValueInfo[] = [];
    for (const input of this.graph.inputs) {
      const constant = constants[input.name];
      const shape = options.shapes[input.name];
      if (constant !== undefined && shape !== undefined) {
        throw new PackageError(`input "${input.name}" is given both a shape and a constant`, where, 'Give one of them.');
      }
      if (constant !== undefined) {
        if (constant.dataType !== input.dataType) {
          throw new PackageError(`input "${input.name}" is ${input.dataType}, its constant is ${constant.dataType}`, where, 'Give a constant of the input\'s type.');
        }
        this.bind(input, constant.dims);
        this.setConstant(input.name, new Constant({ ...constant, name: input.name }));
        continue;
      }
      if (shape === undefined && this.constants.has(input.name)) continue; // An input with a default (its initializer).
      const dims = shape ?? (input.shape?.every((d) => typeof d === 'number') ? (input.shape as number[]) : undefined);
      if (dims === undefined) {
        throw new PackageError(`input "${input.name}" ${shown(input.shape ?? [])} has no shape given`, where,
          `Give its shape in options.shapes (or a value in options.constants).`);
      }
      this.bind(input, dims);
      this.constants.delete(input.name);
      this.values.set(input.name, { dataType: input.dataType, shape: [...dims] });
      kept.push(input);
    }
    return kept;
  }

  /** Checks a shape given for an input against its declared dims, binding its dim names. */
  private bind(input: OnnxValueInfo, dims: number[]): void {
    const where = `graph input "${input.name}"`;
    if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new PackageError(`shape ${shown(dims)} is not a shape`, where, 'Give non-negative integer dims.');
    const declared = input.shape;
    if (declared === undefined) return;
    if (declared.length !== dims.length) {
      throw new PackageError(`shape ${shown(dims)} has rank ${dims.length}; the graph declares ${shown(declared)}`, where, 'Give a shape of the declared rank.');
    }
    declared.forEach((d, k) => {
      if (typeof d === 'number' && d !== dims[k]) {
        throw new PackageError(`shape ${shown(dims)} contradicts the graph's fixed dim ${k} (${d}) in ${shown(declared)}`, where, 'Give the dim the graph fixes.');
      }
      if (typeof d === 'string') {
        const bound = this.symbols.get(d);
        if (bound && bound.value !== dims[k]) {
          throw new PackageError(`dim "${d}" is ${dims[k]} here but ${bound.value} in input "${bound.from}"`, where, `Give "${d}" one value in every input.`);
        }
        this.symbols.set(d, { value: dims[k], from: input.name });
      }
    });
  }

  private setConstant(name: string, constant: Constant): void {
    this.constants.set(name, constant);
    this.values.set(name, constant.static);
  }

  /** A name no value of the graph has (graphNames.ts). */
  private readonly fresh: (base: string) => string;

  resolve(name: string): string {
    let resolved = name;
    for (let seen = 0; this.alias.has(resolved); seen++) {
      if (seen > this.alias.size) throw new Error(`internal: alias cycle at ${name}`);
      resolved = this.alias.get(resolved)!;
    }
    return resolved;
  }

  private staticOf(name: string, node: OnnxNode): StaticValue {
    const v = this.values.get(name);
    if (v === undefined) throw opError(node, `input "${name}" is not defined before the node (not an input, initializer or earlier output)`);
    return v;
  }

  /** The nodes kept for a list of nodes (a graph's or a branch's), in order. */
  walk(nodes: readonly OnnxNode[]): OnnxNode[] {
    const kept: OnnxNode[] = [];
    for (const node of nodes) this.visit(node, kept);
    return kept;
  }

  private visit(original: OnnxNode, kept: OnnxNode[]): void {
    const node = { ...original, inputs: original.inputs.map((n) => (n === '' ? '' : this.resolve(n))) };
    const present = node.inputs.filter((n) => n !== '');
    const inputs = node.inputs.map((n) => (n === '' ? undefined : this.staticOf(n, node)));
    const allConstant = present.every((n) => this.constants.has(n));

    if (node.opType === 'If' && isKnownOp(node)) {
      const condition = this.constants.get(node.inputs[0]);
      if (condition) this.inlineBranch(node, condition.tensor64().data[0] !== 0 ? 'then_branch' : 'else_branch', kept);
      else kept.push(this.specialiseIf(node));
      return;
    }
    if (node.opType === 'Constant' && isKnownOp(node)) {
      this.setConstant(node.outputs[0], new Constant(constantValue(node)));
      return;
    }
    if ((node.opType === 'Shape' || node.opType === 'Size') && isKnownOp(node)) {
      const dims = this.staticOf(node.inputs[0], node).shape;
      const value = node.opType === 'Shape' ? shapeSlice(node, dims) : [sizeOf(dims)];
      this.setConstant(node.outputs[0], new Constant(undefined, tensor('int64', node.opType === 'Shape' ? [value.length] : [], value)));
      return;
    }
    const outputs = inferShapes(node, inputs, (i) => {
      const name = node.inputs[i];
      return name ? this.constants.get(name)?.tensor64() : undefined;
    }, this.opset);
    if (allConstant && this.cheap(inputs, outputs)) {
      if (!isKnownOp(node)) throw unknownOpError(node);
      const values = OPS[node.opType](node.inputs.map((n) => (n === '' ? undefined : this.constants.get(n)!.tensor64())), node, this.opset);
      node.outputs.forEach((name, k) => {
        if (name !== '') this.setConstant(name, new Constant(undefined, values[k]));
      });
      return;
    }
    node.outputs.forEach((name, k) => {
      if (name === '') return;
      if (outputs[k] === undefined) throw opError(node, `no static shape for output ${k}`);
      this.values.set(name, outputs[k]);
    });
    if (node.opType === 'ConstantOfShape') {
      // Too big to fold: Expand of its one value to the (constant) shape.
      const fill = this.fresh(`${node.outputs[0]}/value`);
      const { dataType, value } = fillValue(node);
      this.setConstant(fill, new Constant(undefined, tensor(dataType, [], [value])));
      kept.push({ ...node, opType: 'Expand', inputs: [fill, node.inputs[0]], attributes: {} });
      return;
    }
    kept.push(node);
  }

  /** Folding costs little: integer/bool values, or small float ones from small float inputs. */
  private cheap(inputs: Array<StaticValue | undefined>, outputs: StaticValue[]): boolean {
    const small = (v: StaticValue, limit: number) => isIntegerType(v.dataType) || sizeOf(v.shape) <= limit;
    return outputs.every((v) => small(v, FOLD_FLOAT_ELEMENTS) && sizeOf(v.shape) <= FOLD_MAX_ELEMENTS)
      && inputs.every((v) => v === undefined || (small(v, FOLD_FLOAT_INPUT_ELEMENTS) && sizeOf(v.shape) <= FOLD_MAX_ELEMENTS));
  }

  /** Replaces an If by the nodes of one branch, its inner values renamed, its outputs mapped to the If's. */
  private inlineBranch(node: OnnxNode, which: 'then_branch' | 'else_branch', kept: OnnxNode[]): void {
    const branch = attrGraph(node, which);
    const prefix = `${node.name || node.outputs[0]}/${which === 'then_branch' ? 'then' : 'else'}`;
    const rename = new Map<string, string>();
    for (const t of branch.initializers) rename.set(t.name, this.fresh(`${prefix}/${t.name}`));
    for (const n of branch.nodes) for (const o of n.outputs) if (o !== '') rename.set(o, this.fresh(`${prefix}/${o}`));
    // A branch output made inside the branch takes the If output's name; one from outside is an alias.
    const claimed = new Set<string>();
    const aliases: Array<[string, string]> = [];
    branch.outputs.forEach((o, k) => {
      const target = node.outputs[k];
      if (target === undefined || target === '') return;
      if (rename.has(o.name) && !claimed.has(o.name)) {
        rename.set(o.name, target);
        claimed.add(o.name);
      } else {
        aliases.push([target, o.name]);
      }
    });
    for (const t of branch.initializers) this.setConstant(rename.get(t.name)!, new Constant({ ...t, name: rename.get(t.name)! }));
    for (const inner of branch.nodes) this.visit({ ...renameNode(inner, rename), name: `${prefix}/${inner.name}` }, kept);
    for (const [target, inner] of aliases) {
      const resolved = this.resolve(rename.get(inner) ?? inner);
      this.alias.set(target, resolved);
      this.values.set(target, this.staticOf(resolved, node));
    }
  }

  /** An If on data: both branches specialised; their outputs must agree in type and shape. */
  private specialiseIf(node: OnnxNode): OnnxNode {
    const attributes = { ...node.attributes };
    const shapes: StaticValue[][] = [];
    for (const which of ['then_branch', 'else_branch'] as const) {
      const branch = attrGraph(node, which);
      for (const t of branch.initializers) this.setConstant(t.name, new Constant(t));
      const nodes = this.walk(branch.nodes);
      const graph = this.finishGraph(branch, nodes, [], false);
      attributes[which] = { type: 'graph', value: graph };
      shapes.push(graph.outputs.map((o) => this.values.get(o.name)!));
    }
    const [thenShapes, elseShapes] = shapes;
    node.outputs.forEach((name, k) => {
      const [a, b] = [thenShapes[k], elseShapes[k]];
      if (a.dataType !== b.dataType || a.shape.join() !== b.shape.join()) {
        throw new PackageError(`the branches give output ${k} as ${a.dataType} ${shown(a.shape)} and ${b.dataType} ${shown(b.shape)}`, nodeWhere(node),
          'A graph with a data-dependent If whose branches differ in shape cannot be given static shapes.');
      }
      if (name !== '') this.values.set(name, a);
    });
    return { ...node, attributes };
  }

  /**
   * A graph (the main one or a kept branch) from its kept nodes: outputs that are constants or aliases get an
   * Identity, dead nodes go, and (for the main graph) the constants read become initializers.
   */
  finishGraph(graph: OnnxGraph, walked: OnnxNode[], inputs: OnnxValueInfo[], main: boolean): OnnxGraph {
    const nodes = [...walked];
    const produced = new Set(nodes.flatMap((n) => n.outputs));
    const inputNames = new Set(inputs.map((i) => i.name));
    // ORT wants every output made by a node of its graph: outputs that are constants, aliases or (in a branch)
    // outer values get an Identity.
    const outputNames = graph.outputs.map((output) => {
      const resolved = this.resolve(output.name);
      if (resolved === output.name && (produced.has(resolved) || inputNames.has(resolved))) return output.name;
      let source = resolved;
      let target = output.name;
      if (resolved === output.name && this.constants.has(resolved) && main) {
        // A constant under the output's own name: the constant moves to a new name (for the nodes that read
        // it too), an Identity gives it back.
        source = this.fresh(`${output.name}/constant`);
        this.setConstant(source, this.constants.get(resolved)!);
        this.constants.delete(resolved);
        const moved = new Map([[resolved, source]]);
        nodes.forEach((n, i) => { nodes[i] = renameNode(n, moved); });
      } else if (resolved === output.name) {
        // A branch output that is an outer value or a constant: the branch's output takes a new name (If maps
        // branch outputs by position).
        target = this.fresh(`${output.name}/branch_output`);
      }
      nodes.push({ opType: 'Identity', domain: '', name: this.fresh(`${target}/identity`), inputs: [source], outputs: [target], attributes: {} });
      this.values.set(target, this.values.get(source)!);
      return target;
    });
    // Dead nodes: walk back from the outputs.
    const { keep, needed: live } = neededNodes(nodes, outputNames);
    const liveNodes = nodes.filter((_, n) => keep[n]);
    const staticInfo = (name: string, declared?: OnnxValueInfo): OnnxValueInfo => {
      const v = this.values.get(name)!;
      if (declared) this.checkDeclared(declared, v);
      return { name, dataType: v.dataType, shape: [...v.shape] };
    };
    const outputs = graph.outputs.map((o, k) => staticInfo(outputNames[k], { ...o, name: outputNames[k] }));
    const valueInfo = liveNodes.flatMap((n) => n.outputs.filter((o) => o !== '' && !outputNames.includes(o)).map((o) => staticInfo(o, this.declared.get(o))));
    const initializers = main
      ? [...live].filter((name) => this.constants.has(name)).map((name) => this.constants.get(name)!.initializer(name))
      : [];
    return {
      ...graph,
      nodes: liveNodes,
      initializers,
      inputs: inputs.filter((i) => live.has(i.name)).map((i) => staticInfo(i.name)),
      outputs,
      valueInfo,
    };
  }

  /** A value's static type and shape must agree with what the original graph declared for it. */
  private checkDeclared(declared: OnnxValueInfo, actual: StaticValue): void {
    const where = `value "${declared.name}"`;
    const fix = 'The graph\'s declared shapes disagree with the ONNX semantics of its ops; report the graph (or the shape rule in src/autodiff/shapes.ts).';
    if (declared.dataType !== actual.dataType) throw new PackageError(`specialise infers ${actual.dataType}, the graph declares ${declared.dataType}`, where, fix);
    const dims = declared.shape;
    if (!dims) return;
    const agrees = dims.length === actual.shape.length && dims.every((d, k) => d === undefined
      || (typeof d === 'number' ? d === actual.shape[k] : (this.symbols.get(d)?.value ?? actual.shape[k]) === actual.shape[k]));
    if (!agrees) throw new PackageError(`specialise infers ${shown(actual.shape)}, the graph declares ${shown(dims)}`, where, fix);
  }
}

/** The static value of every name of the result (inputs, initializers, node outputs, in branches too). */
function collectValues(graph: OnnxGraph, into: ValueTable, known: ValueTable): void {
  for (const t of graph.initializers) into.set(t.name, { dataType: t.dataType, shape: [...t.dims] });
  for (const i of graph.inputs) into.set(i.name, known.get(i.name)!);
  for (const n of graph.nodes) {
    for (const o of n.outputs) if (o !== '') into.set(o, known.get(o)!);
    for (const a of Object.values(n.attributes)) if (a.type === 'graph') collectValues(a.value, into, known);
  }
}
