/**
 * A session opened when it runs (issue 16, item 2): training never runs the generation graphs, so their weights
 * reach the GPU only when a caption is asked for; and the vision graph, released once a run's features are
 * cached, leaves the GPU for the training and opens again when an image needs features. Its names and metadata
 * come from the graph (or the session first opened); release releases the real session if it is open, and a later
 * run opens it again. A graph ORT cannot load fails at its first run, not at load (its names, types and shapes are
 * checked at load from the graph itself).
 */
import type { OnnxGraph, OnnxValueInfo } from '../formats/onnxModel.ts';
import { checkGraphNames, type Session, type ValueMetadata } from './onnxRuntime.ts';

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

/** graphMetadata of a graph whose inputs and outputs include the `expected` names (else checkGraphNames' PackageError). */
export function checkedGraphMetadata(graph: OnnxGraph, where: string, expected: { inputs: string[]; outputs: string[] }): GraphMetadata {
  const metadata = graphMetadata(graph);
  checkGraphNames(where, expected, { inputs: metadata.inputs.map((m) => m.name), outputs: metadata.outputs.map((m) => m.name) });
  return metadata;
}

/** A session `open` makes now (a graph ORT cannot load fails here) and again on a run after it was released. */
export async function openedNowAndWhenRun(open: () => Promise<Session>): Promise<Session> {
  const first = await open();
  return openedWhenRun({ inputs: [...first.inputMetadata], outputs: [...first.outputMetadata] }, open, first);
}

/** A Session whose real one `open` makes on a run when none is open; `opened`: one already open (e.g. at load). */
export function openedWhenRun(metadata: GraphMetadata, open: () => Promise<Session>, opened?: Session): Session {
  let session: Promise<Session> | undefined = opened && Promise.resolve(opened);
  const lazy: Pick<Session, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata' | 'run' | 'release'> = {
    inputNames: metadata.inputs.map((m) => m.name), outputNames: metadata.outputs.map((m) => m.name),
    inputMetadata: metadata.inputs, outputMetadata: metadata.outputs,
    run: ((...args: Parameters<Session['run']>) => (session ??= open()).then((s) => s.run(...args))) as Session['run'],
    release: async () => {
      const open = session;
      session = undefined;
      if (open) await (await open).release();
    },
  };
  return lazy as Session;
}
