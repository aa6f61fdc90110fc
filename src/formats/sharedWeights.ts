/**
 * Each weight of a model package once (issue 16, item 5). A package's graphs (vision, vjp, encoder, decoder_init,
 * decoder_step) are exported one by one and each holds the weights it uses: the default model's 33 MB of graphs
 * hold 16 MB of distinct tensors. Here every initializer of at least MIN_SHARED_BYTES moves into one weights
 * file as ONNX external data (TensorProto.external_data: location, offset, length; data_location = EXTERNAL),
 * identical tensors (same type, dims and bytes, whatever their names) stored once and referenced by every graph
 * that holds them. ONNX Runtime reads it through the session option `externalData`; Python's onnx and
 * onnxruntime read it beside the graph. The manifest names the file (`weights`, src/formats/manifest.ts).
 *
 * Layout of the weights file: the tensors' raw little-endian bytes, each starting at a multiple of ALIGN bytes
 * (zero padding between), in the order first met (graphs in the order given, initializers in graph order).
 */
import type { OnnxModel, OnnxTensor } from './onnxModel.ts';

export const SHARED_WEIGHTS_FILE = 'weights.bin';
/** Smaller tensors (shapes, scalars, small biases) stay in their graph: a reference would cost about as much. */
export const MIN_SHARED_BYTES = 1024;
/** Offsets are multiples of this: any element type is aligned, and ORT may map a tensor without copying it. */
const ALIGN = 64;

export interface SharedWeights {
  /** The weights file's bytes. */
  bytes: Uint8Array;
  /** Initializers moved out of the graphs, and of those, how many were already in the file (held by another graph, or twice). */
  moved: number;
  reused: number;
}

/**
 * Moves the graphs' large initializers into one weights file named `file`, each distinct tensor once. The models
 * are changed in place: those tensors lose their values and name their place in the file. Tensors must be resolved
 * (read with their external data, if any).
 */
export function shareWeights(graphs: readonly OnnxModel[], file = SHARED_WEIGHTS_FILE): SharedWeights {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const placed = new Map<string, Array<{ offset: number; bytes: Uint8Array }>>();
  let moved = 0;
  let reused = 0;
  for (const model of graphs) {
    for (const tensor of model.graph.initializers) {
      const bytes = rawBytes(tensor);
      if (!bytes || bytes.byteLength < MIN_SHARED_BYTES) continue;
      const key = `${tensor.dataType} [${tensor.dims.join(',')}] ${fnv1a(bytes)}`;
      const candidates = placed.get(key) ?? [];
      let offset = candidates.find((c) => equalBytes(c.bytes, bytes))?.offset;
      if (offset === undefined) {
        const padding = (ALIGN - (size % ALIGN)) % ALIGN;
        if (padding) chunks.push(new Uint8Array(padding));
        offset = size + padding;
        chunks.push(bytes);
        size = offset + bytes.byteLength;
        candidates.push({ offset, bytes });
        placed.set(key, candidates);
      } else {
        reused++;
      }
      tensor.values = undefined;
      tensor.external = { location: file, offset, length: bytes.byteLength };
      moved++;
    }
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return { bytes: out, moved, reused };
}

/** A numeric tensor's elements as little-endian bytes (a view, no copy); undefined for strings or unresolved tensors. */
export function rawBytes(tensor: OnnxTensor): Uint8Array | undefined {
  const { values } = tensor;
  if (!values || Array.isArray(values)) return undefined;
  const view = values as ArrayBufferView;
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** FNV-1a over the bytes: a bucket key (equal tensors are then compared byte for byte). */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.byteLength; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}
