/**
 * Inline constant Ifs: some graph inputs fixed to values, every `If` of the main graph whose condition is then
 * a constant replaced by the branch it takes, and what nothing reads any more dropped (nodes, initializers,
 * inputs). Shapes are left as they are (symbolic dims stay symbolic), unlike src/autodiff/specialise.ts, which
 * does the same for If but needs every input's shape.
 *
 * Its use: Optimum's merged decoder (decoder_model_merged.onnx: inputs_embeds, encoder_hidden_states,
 * encoder_attention_mask, past_key_values.{i}.{decoder,encoder}.{key,value}, use_cache_branch; one If on
 * use_cache_branch whose else branch is the decoder without past) with use_cache_branch = false is the
 * decoder_model.onnx interface: the past_key_values inputs, read only by the then branch, go.
 *
 * A condition is constant when it is a bound input, an initializer, a Constant's output or an Identity of one
 * of these. The inlined branch's values are renamed `<If name>/else/<name>` (fresh); a branch output made in
 * the branch takes the If output's name, one from outside (or one made twice) comes through an Identity.
 */
import { PackageError } from '../errors.ts';
import type { OnnxModel, OnnxNode, OnnxTensor, OnnxTensorValues } from '../formats/onnxModel.ts';
import { neededNodes } from './evaluate.ts';
import { freshNames, renameNode } from './graphNames.ts';

export function inlineConstantIfs(model: OnnxModel, constants: Record<string, OnnxTensor>): OnnxModel {
  const { graph } = model;
  const where = `graph "${graph.name}"`;
  for (const [name, value] of Object.entries(constants)) {
    const input = graph.inputs.find((i) => i.name === name);
    if (!input) {
      throw new PackageError(`"${name}" is given a value but is not a graph input (inputs: ${graph.inputs.map((i) => i.name).join(', ')})`, where, 'Name graph inputs only.');
    }
    if (value.dataType !== input.dataType) {
      throw new PackageError(`input "${name}" is ${input.dataType}, its constant is ${value.dataType}`, where, 'Give a constant of the input\'s type.');
    }
  }

  const fresh = freshNames(graph);

  // The values known to be constant: bound inputs, initializers, Constants, Identities of these.
  const known = new Map<string, OnnxTensor>();
  for (const t of graph.initializers) known.set(t.name, t);
  for (const [name, value] of Object.entries(constants)) known.set(name, { ...value, name });
  const initializers = [...graph.initializers.filter((t) => !(t.name in constants)), ...Object.entries(constants).map(([name, value]) => ({ ...value, name }))];

  const nodes: OnnxNode[] = [];
  const visit = (node: OnnxNode): void => {
    if (node.opType === 'Constant' && node.attributes.value?.type === 'tensor') known.set(node.outputs[0], node.attributes.value.value);
    if (node.opType === 'Identity' && known.has(node.inputs[0])) known.set(node.outputs[0], known.get(node.inputs[0])!);
    const condition = node.opType === 'If' && (node.domain === '' || node.domain === 'ai.onnx') ? known.get(node.inputs[0]) : undefined;
    if (!condition) {
      nodes.push(node);
      return;
    }
    const which = truth(condition, node) ? 'then_branch' : 'else_branch';
    const attribute = node.attributes[which];
    if (attribute?.type !== 'graph') throw new PackageError(`the If has no ${which}`, `node "${node.name}"`, 'Use a valid ONNX graph.');
    const branch = attribute.value;
    const prefix = `${node.name || node.outputs[0]}/${which === 'then_branch' ? 'then' : 'else'}`;
    const rename = new Map<string, string>();
    for (const t of branch.initializers) rename.set(t.name, fresh(`${prefix}/${t.name}`));
    for (const n of branch.nodes) for (const o of n.outputs) if (o !== '') rename.set(o, fresh(`${prefix}/${o}`));
    // A branch output made by a branch node takes the If output's name; one that is a branch initializer, an
    // outer value or an output already claimed comes through an Identity.
    const made = new Set(branch.nodes.flatMap((n) => n.outputs));
    const claimed = new Set<string>();
    const passed: Array<{ inner: string; target: string }> = [];
    branch.outputs.forEach((output, k) => {
      const target = node.outputs[k];
      if (target === undefined || target === '') return;
      if (made.has(output.name) && !claimed.has(output.name)) {
        claimed.add(output.name);
        rename.set(output.name, target);
      } else {
        passed.push({ inner: output.name, target });
      }
    });
    for (const t of branch.initializers) {
      const renamed = { ...t, name: rename.get(t.name)! };
      initializers.push(renamed);
      known.set(renamed.name, renamed);
    }
    for (const inner of branch.nodes) visit({ ...renameNode(inner, rename), name: `${prefix}/${inner.name}` });
    for (const { inner, target } of passed) {
      visit({ opType: 'Identity', domain: '', name: fresh(`${prefix}/${target}/identity`), inputs: [rename.get(inner) ?? inner], outputs: [target], attributes: {} });
    }
  };
  for (const node of graph.nodes) visit(node);

  // Dead nodes: walk back from the outputs.
  const { keep, needed: live } = neededNodes(nodes, graph.outputs.map((o) => o.name));
  const liveNodes = nodes.filter((_, n) => keep[n]);
  const produced = new Set(liveNodes.flatMap((n) => n.outputs));
  return {
    ...model,
    graph: {
      ...graph,
      nodes: liveNodes,
      initializers: initializers.filter((t) => live.has(t.name)),
      inputs: graph.inputs.filter((i) => !(i.name in constants) && live.has(i.name)),
      valueInfo: graph.valueInfo.filter((v) => produced.has(v.name)),
    },
  };
}

/** A condition's truth: its one element (ONNX wants a single-element bool; any non-zero number is true here). */
function truth(condition: OnnxTensor, node: OnnxNode): boolean {
  const values = condition.values as OnnxTensorValues | undefined;
  if (!values || values.length !== 1 || typeof values[0] === 'string') {
    throw new PackageError(`the If's condition "${node.inputs[0]}" is not one element`, `node "${node.name}"`, 'Bind the condition to a single bool.');
  }
  return Number(values[0]) !== 0;
}
