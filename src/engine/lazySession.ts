/**
 * A session opened on its first run (issue 16, item 2): training never runs the generation graphs, so their
 * weights reach the GPU only when a caption is asked for. Its names and metadata come from the graph, read
 * without opening it; release releases the real session only if it was opened. A graph ORT cannot load fails
 * at its first run, not at load (its names, types and shapes are checked at load from the graph itself).
 */
import type { OnnxGraph, OnnxValueInfo } from '../formats/onnxModel.ts';
import type { Session, ValueMetadata } from './onnxRuntime.ts';

export interface GraphMetadata {
  inputs: ValueMetadata[];
  outputs: ValueMetadata[];
}

/** A graph's inputs (initializers left out, as ORT leaves them out) and outputs as ORT's session metadata gives them. */
export function graphMetadata(graph: OnnxGraph): GraphMetadata {
  const initializers = new Set(graph.initializers.map((t) => t.name));
  const meta = (v: OnnxValueInfo): ValueMetadata =>
    ({ name: v.name, isTensor: true, type: v.dataType, shape: (v.shape ?? []).map((d) => d ?? '') }) as ValueMetadata;
  return { inputs: graph.inputs.filter((v) => !initializers.has(v.name)).map(meta), outputs: graph.outputs.map(meta) };
}

/** A Session whose real one `open` makes on the first run. */
export function openedOnFirstRun(metadata: GraphMetadata, open: () => Promise<Session>): Session {
  let session: Promise<Session> | undefined;
  const lazy: Pick<Session, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata' | 'run' | 'release'> = {
    inputNames: metadata.inputs.map((m) => m.name), outputNames: metadata.outputs.map((m) => m.name),
    inputMetadata: metadata.inputs, outputMetadata: metadata.outputs,
    run: ((...args: Parameters<Session['run']>) => (session ??= open()).then((s) => s.run(...args))) as Session['run'],
    release: async () => {
      if (session) await (await session).release();
    },
  };
  return lazy as Session;
}
