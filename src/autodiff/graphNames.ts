/**
 * Renaming the values of an ONNX graph, sub-graphs included: what inlining a branch (specialise.ts, inlineIf.ts)
 * needs so that the branch's names never clash with the outer graph's.
 */
import type { OnnxGraph, OnnxNode } from '../formats/onnxModel.ts';

/** A node with its names renamed, including the outer names its sub-graphs read. */
export function renameNode(node: OnnxNode, rename: ReadonlyMap<string, string>): OnnxNode {
  const name = (n: string) => rename.get(n) ?? n;
  const attributes = Object.fromEntries(Object.entries(node.attributes).map(([key, a]) =>
    [key, a.type === 'graph' ? { type: 'graph' as const, value: renameGraph(a.value, rename) } : a]));
  return { ...node, inputs: node.inputs.map(name), outputs: node.outputs.map(name), attributes };
}

/** A sub-graph whose reads of outer names follow `rename` (names it defines itself are its own). */
export function renameGraph(graph: OnnxGraph, rename: ReadonlyMap<string, string>): OnnxGraph {
  const own = new Set<string>();
  collectNames(graph, own);
  const outer = new Map([...rename].filter(([from]) => !own.has(from)));
  const name = (n: string) => outer.get(n) ?? n;
  return {
    ...graph,
    nodes: graph.nodes.map((n) => renameNode(n, outer)),
    outputs: graph.outputs.map((o) => ({ ...o, name: name(o.name) })),
  };
}

/** Every name a graph defines, at any depth. */
export function collectNames(graph: OnnxGraph, names: Set<string>): void {
  for (const i of graph.inputs) names.add(i.name);
  for (const t of graph.initializers) names.add(t.name);
  for (const n of graph.nodes) {
    for (const o of n.outputs) if (o !== '') names.add(o);
    for (const a of Object.values(n.attributes)) if (a.type === 'graph') collectNames(a.value, names);
  }
}

/** A maker of names no value of `graph` has (nor any it made before): `base`, else `base_1`, `base_2` … */
export function freshNames(graph: OnnxGraph): (base: string) => string {
  const taken = new Set<string>();
  collectNames(graph, taken);
  return (base) => {
    let name = base;
    for (let n = 1; taken.has(name); n++) name = `${base}_${n}`;
    taken.add(name);
    return name;
  };
}
