/**
 * Graph capture on buffers of ours: onnxruntime-web's WebGPU provider records the GPU commands of a
 * session's first run (`enableGraphCapture`) and replays them on every later run, without ORT's per-operator
 * CPU work — if every input and output is a GPU buffer that stays the same from run to run.
 *
 * Why buffers must be held: the recording keeps ORT's *handles* of the buffers it ran on. onnxruntime-web
 * (1.30) registers an external buffer (`Tensor.fromGpuBuffer`) when a run starts and releases its handle
 * when the run ends, so the next run registers the same buffers under new handles — taken from the freed
 * ones in another order — while the replay binds the old handles: inputs swapped, or a handle with no
 * buffer at all (createBindGroup then fails: "no overload matched … resource"). The registration is counted
 * per GPUBuffer object, under a symbol ORT sets on it while the buffer is registered; holding one more count
 * of our own keeps the first handle for as long as the buffer lives. ORT's own output buffers are held the
 * same way by ORT itself (their count never falls to 0), which is how the symbol is found: from the output
 * of a one-node graph.
 */
import { writeOnnxModel } from '../formats/onnxWriter.ts';
import { GpuError } from '../errors.ts';
import { createSession, hostTensor } from './onnxRuntime.ts';

/** ORT's registration entry on a GPUBuffer: [handle, count]. */
type Registration = [number, number];

let registrationKey: Promise<symbol> | undefined;

/** The symbol under which this onnxruntime-web instance keeps a buffer's registration. */
function findRegistrationKey(): Promise<symbol> {
  registrationKey ??= (async () => {
    const identity = writeOnnxModel({
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', dims: [4] }],
      outputs: [{ name: 'y', dims: [4] }],
    });
    const session = await createSession(identity, 'graph capture probe', { inputs: ['x'], outputs: ['y'] }, { gpuOutputs: true });
    try {
      const { y } = await session.run({ x: hostTensor('float32', new Float32Array(4), [4]) });
      const key = Object.getOwnPropertySymbols(y.gpuBuffer).find((s) => s.description === 'gpuBufferMetadata');
      y.dispose();
      if (!key) {
        throw new GpuError('this onnxruntime-web keeps no registration on its GPU buffers', 'graph capture',
          'Run without graph capture; onnxruntime-web\'s buffer bookkeeping changed (it was written for 1.30).');
      }
      return key;
    } finally {
      await session.release();
    }
  })();
  return registrationKey;
}

/**
 * Keeps each buffer registered with onnxruntime-web from its first run on, so that a captured graph's
 * replay binds the same buffers. Call before the capturing run; the buffers stay registered until they are
 * garbage (the handle table entry is the only thing kept; `destroy()` still frees the GPU memory).
 */
export async function holdForGraphCapture(buffers: GPUBuffer[]): Promise<void> {
  const key = await findRegistrationKey();
  for (const buffer of buffers) {
    const slots = buffer as unknown as Record<symbol, Registration | undefined>;
    if (Object.getOwnPropertyDescriptor(slots, key)?.set) continue; // already held
    let registration = slots[key];
    if (registration) registration[1] += 1;
    Object.defineProperty(slots, key, {
      configurable: true,
      get: () => registration,
      // ORT writes [handle, 1] when it registers the buffer: our count is added to it.
      set: (value: Registration | undefined) => {
        registration = value;
        if (value) value[1] += 1;
      },
    });
  }
}
