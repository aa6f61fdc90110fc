/**
 * Records the GPU commands one call issues (a captured ONNX Runtime run) and replays them from our own
 * encoder: one compute pass, the bind groups made once.
 *
 * Why: onnxruntime-web's graph-capture replay (src/engine/graphCapture.ts) still goes through ORT's wasm and
 * its JS glue for every operator — a uniform buffer written, a bind group made, pipeline and bind group set,
 * a dispatch, 16 dispatches per pass and a submit per pass: about 60 µs of host time per operator in Node
 * over Dawn on an H100 (docs/BENCHMARKS.md), ~60 ms for the ~700 dispatches of the default model's vjp
 * graph, against 3–5 µs per dispatch when the bind groups exist and the dispatches share a pass
 * (`npm run bench:dispatch`). A captured run's commands are fixed — the same pipelines, the same storage
 * buffers (held), the same uniform values — so they are recorded once, as ORT replays them, and issued again
 * by us.
 *
 * Uniforms: ORT writes each dispatch's uniform values into a small pool of uniform buffers before each
 * submit (queue.writeBuffer, or a copy from a staging buffer it filled through a mapping), reusing the pool
 * from submit to submit. The recording therefore keeps, per dispatch, the values its
 * uniform buffers held when it was submitted; the replay gets its own uniform buffer for each distinct value
 * and its own bind group pointing at it, so that every dispatch can share one pass with no writes between.
 *
 * Recording patches the WebGPU prototypes for the duration of the call only. A run that writes a storage
 * buffer from the CPU, maps a buffer, uses dynamic offsets or indirect dispatches is refused: its commands
 * would not be the same next time, or the recorder cannot see them.
 */
import { setMemoryKind, withMemoryKind } from './gpuMemory.ts';
import { hookMethod } from './webgpuHooks.ts';
import { GpuError } from '../errors.ts';

type Dispatch = { pipeline: GPUComputePipeline; groups: Array<GPUBindGroup | undefined>; size: [number, number, number] };
type Command =
  | { kind: 'pass'; dispatches: Dispatch[] }
  | { kind: 'copy'; source: GPUBuffer; sourceOffset: number; destination: GPUBuffer; destinationOffset: number; size: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset?: number; size?: number };

export interface RecordedCommands {
  commands: Command[];
  dispatches: number;
  /** Command buffers ORT submitted for the recorded run. */
  submits: number;
  /** Uniform buffers made for the replay (one per distinct uniform value). */
  uniformBuffers: GPUBuffer[];
  /** Copies and clears kept between the passes (copies into uniform buffers are not among them). */
  transfers: number;
  /** Buffers ORT destroyed since the recording began, which the replay still binds (releaseRecorded frees them). */
  keptAlive: GPUBuffer[];
  /** Buffers whose destroy() waits for releaseRecorded (it puts their own destroy back). */
  guarded: GPUBuffer[];
  /** The buffers each bind group of the replay binds (replayLifetimes). */
  boundBuffers: Map<GPUBindGroup, GPUBuffer[]>;
}

export class RecordingError extends GpuError {
  constructor(problem: string) {
    super(problem, 'recorded replay', 'Run the session without recorded replay (ONNX Runtime then issues the commands itself).');
  }
}

/** The kind (gpuMemory.ts) of the buffers ORT destroyed that a recording keeps alive for its replay. */
const KEPT_ALIVE = 'recording: kept alive (ORT freed them)';

const isUniform = (buffer: GPUBuffer) => (buffer.usage & GPUBufferUsage.UNIFORM) !== 0;

/** Calls `run` and returns its result and the commands it submitted, ready for encodeRecorded. */
export async function recordCommands<T>(device: GPUDevice, run: () => Promise<T>): Promise<{ result: T; recorded: RecordedCommands }> {
  const encoders = new Map<unknown, Command[]>();
  const finished = new Map<unknown, Command[]>();
  const passes = new Map<unknown, { current: Array<GPUBindGroup | undefined>; pipeline?: GPUComputePipeline; dispatches: Dispatch[] }>();
  const groupEntries = new Map<GPUBindGroup, GPUBindGroupDescriptor>();
  const groupIds = new Map<GPUBindGroup, number>();
  /** Each uniform buffer's bytes as last written. */
  const uniformValues = new Map<GPUBuffer, Uint8Array<ArrayBuffer>>();
  /** A submitted dispatch → the bytes of each uniform buffer it binds, at its submit. */
  const uniformsAtSubmit = new Map<Dispatch, Map<GPUBuffer, Uint8Array<ArrayBuffer>>>();
  const commands: Command[] = [];
  let refused: string | undefined;
  let submits = 0;
  const listOf = (encoder: unknown) => {
    let list = encoders.get(encoder);
    if (!list) encoders.set(encoder, (list = []));
    return list;
  };
  /** Bytes of buffers ORT filled through a mapping (staging buffers for uniforms), as they were at unmap. */
  const stagedBytes = new Map<GPUBuffer, Uint8Array<ArrayBuffer>>();
  const mappedRanges = new Map<GPUBuffer, Array<{ offset: number; range: ArrayBuffer }>>();
  /** Copies into uniform buffers: replaced by the replay's own uniform buffers, not replayed. */
  const absorbed = new Set<Command>();
  /** Buffers ORT destroyed during the run: kept alive for the replay (ORT has let go of them). */
  const kept: GPUBuffer[] = [];
  const unpatch = [
    hookMethod(GPUBuffer.prototype, 'destroy', () => function (this: unknown) {
      kept.push(this as GPUBuffer);
    }),
    hookMethod(GPUBuffer.prototype, 'getMappedRange', (original) => function (this: unknown, ...args) {
      const range = original.apply(this, args) as ArrayBuffer;
      const ranges = mappedRanges.get(this as GPUBuffer) ?? [];
      ranges.push({ offset: (args[0] as number | undefined) ?? 0, range });
      mappedRanges.set(this as GPUBuffer, ranges);
      return range;
    }),
    hookMethod(GPUBuffer.prototype, 'unmap', (original) => function (this: unknown, ...args) {
      const buffer = this as GPUBuffer;
      const ranges = mappedRanges.get(buffer);
      if (ranges) {
        const bytes = stagedBytes.get(buffer) ?? new Uint8Array(buffer.size);
        for (const { offset, range } of ranges) bytes.set(new Uint8Array(range), offset);
        stagedBytes.set(buffer, bytes);
        mappedRanges.delete(buffer);
      }
      return original.apply(this, args);
    }),
    hookMethod(GPUDevice.prototype, 'createBindGroup', (original) => function (this: unknown, ...args) {
      const group = original.apply(this, args) as GPUBindGroup;
      const descriptor = args[0] as GPUBindGroupDescriptor;
      groupIds.set(group, groupIds.size);
      groupEntries.set(group, { ...descriptor, entries: [...descriptor.entries].map((e) => ({ ...e, resource: { ...(e.resource as GPUBufferBinding) } })) });
      return group;
    }),
    hookMethod(GPUCommandEncoder.prototype, 'beginComputePass', (original) => function (this: unknown, ...args) {
      const pass = original.apply(this, args);
      const dispatches: Dispatch[] = [];
      listOf(this).push({ kind: 'pass', dispatches });
      passes.set(pass, { current: [], dispatches });
      return pass;
    }),
    hookMethod(GPUCommandEncoder.prototype, 'copyBufferToBuffer', (original) => function (this: unknown, ...args) {
      // Both forms: (source, sourceOffset, destination, destinationOffset, size) and (source, destination, size?).
      const [source, sourceOffset, destination, destinationOffset, size] = typeof args[1] === 'number'
        ? args as [GPUBuffer, number, GPUBuffer, number, number | undefined]
        : [args[0] as GPUBuffer, 0, args[1] as GPUBuffer, 0, args[2] as number | undefined];
      listOf(this).push({ kind: 'copy', source, sourceOffset, destination, destinationOffset, size: size ?? source.size - sourceOffset });
      return original.apply(this, args);
    }),
    hookMethod(GPUCommandEncoder.prototype, 'clearBuffer', (original) => function (this: unknown, ...args) {
      listOf(this).push({ kind: 'clear', buffer: args[0] as GPUBuffer, offset: args[1] as number | undefined, size: args[2] as number | undefined });
      return original.apply(this, args);
    }),
    hookMethod(GPUCommandEncoder.prototype, 'finish', (original) => function (this: unknown, ...args) {
      const buffer = original.apply(this, args);
      finished.set(buffer, listOf(this));
      return buffer;
    }),
    hookMethod(GPUComputePassEncoder.prototype, 'setPipeline', (original) => function (this: unknown, ...args) {
      const state = passes.get(this);
      if (state) state.pipeline = args[0] as GPUComputePipeline;
      return original.apply(this, args);
    }),
    hookMethod(GPUComputePassEncoder.prototype, 'setBindGroup', (original) => function (this: unknown, ...args) {
      const offsets = args[2] as ArrayLike<number> | undefined;
      if (offsets && offsets.length > 0) refused ??= 'bind groups with dynamic offsets';
      const state = passes.get(this);
      if (state) state.current[args[0] as number] = args[1] as GPUBindGroup;
      return original.apply(this, args);
    }),
    hookMethod(GPUComputePassEncoder.prototype, 'dispatchWorkgroups', (original) => function (this: unknown, ...args) {
      const state = passes.get(this);
      if (state) {
        const [x, y = 1, z = 1] = args as number[];
        state.dispatches.push({ pipeline: state.pipeline!, groups: [...state.current], size: [x, y, z] });
      }
      return original.apply(this, args);
    }),
    hookMethod(GPUComputePassEncoder.prototype, 'dispatchWorkgroupsIndirect', (original) => function (this: unknown, ...args) {
      refused ??= 'an indirect dispatch';
      return original.apply(this, args);
    }),
    hookMethod(GPUQueue.prototype, 'writeBuffer', (original) => function (this: unknown, ...args) {
      const [buffer, offset, data, dataOffset = 0, size] = args as [GPUBuffer, number, ArrayBufferView | ArrayBuffer, number | undefined, number | undefined];
      if (!isUniform(buffer)) {
        refused ??= 'queue.writeBuffer into a storage buffer (data from the CPU)';
      } else {
        const view = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
        const element = ArrayBuffer.isView(data) && !(data instanceof DataView) ? (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
        const bytes = view.slice(dataOffset * element, size === undefined ? undefined : (dataOffset + size) * element);
        const value = uniformValues.get(buffer) ?? new Uint8Array(buffer.size);
        value.set(bytes, offset);
        uniformValues.set(buffer, value);
      }
      return original.apply(this, args);
    }),
    hookMethod(GPUQueue.prototype, 'submit', (original) => function (this: unknown, ...args) {
      for (const buffer of args[0] as GPUCommandBuffer[]) {
        const list = finished.get(buffer) ?? [];
        for (const command of list) {
          if (command.kind === 'copy' && isUniform(command.destination)) {
            const source = stagedBytes.get(command.source) ?? uniformValues.get(command.source);
            if (!source) {
              refused ??= 'a copy into a uniform buffer from a buffer the recording did not see filled';
              continue;
            }
            const value = uniformValues.get(command.destination) ?? new Uint8Array(command.destination.size);
            value.set(source.subarray(command.sourceOffset, command.sourceOffset + command.size), command.destinationOffset);
            uniformValues.set(command.destination, value);
            absorbed.add(command);
            continue;
          }
          if (command.kind === 'copy' && stagedBytes.has(command.source)) {
            refused ??= 'a copy of data from the CPU into a storage buffer';
            continue;
          }
          if (command.kind !== 'pass') continue;
          for (const dispatch of command.dispatches) {
            const values = new Map<GPUBuffer, Uint8Array<ArrayBuffer>>();
            for (const group of dispatch.groups) {
              for (const entry of (group && groupEntries.get(group)?.entries) ?? []) {
                const bound = (entry.resource as GPUBufferBinding).buffer;
                if (bound && isUniform(bound)) values.set(bound, (uniformValues.get(bound) ?? new Uint8Array(bound.size)).slice());
              }
            }
            uniformsAtSubmit.set(dispatch, values);
          }
        }
        commands.push(...list);
        submits++;
      }
      return original.apply(this, args);
    }),
    hookMethod(GPUBuffer.prototype, 'mapAsync', (original) => function (this: unknown, ...args) {
      refused ??= 'a buffer mapping';
      return original.apply(this, args);
    }),
  ];

  let result: T;
  try {
    result = await run();
  } finally {
    for (const undo of unpatch.reverse()) undo();
  }
  if (refused) throw new RecordingError(`the recorded run used ${refused}`);
  for (const command of commands) {
    if (command.kind !== 'pass') continue;
    for (const dispatch of command.dispatches) {
      if (dispatch.groups.some((g) => g && !groupEntries.has(g))) throw new RecordingError('a dispatch used a bind group made before the recording');
    }
  }

  // Own uniform buffers (one per distinct value) and bind groups that point at them.
  const uniformBuffers: GPUBuffer[] = [];
  const uniformFor = new Map<string, GPUBuffer>();
  const rebound = new Map<string, GPUBindGroup>();
  const boundBuffers = new Map<GPUBindGroup, GPUBuffer[]>();
  /** ORT's buffers that the replay binds, copies or clears. */
  const referenced = new Set<GPUBuffer>();
  const ownUniform = (bytes: Uint8Array<ArrayBuffer>) => {
    const key = Array.from(bytes).join(',');
    let buffer = uniformFor.get(key);
    if (!buffer) {
      buffer = withMemoryKind('recording: uniforms', () => device.createBuffer({ label: 'recorded uniforms', size: bytes.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
      device.queue.writeBuffer(buffer, 0, bytes);
      uniformFor.set(key, buffer);
      uniformBuffers.push(buffer);
    }
    return { buffer, key };
  };
  const passesOnly: Command[] = [];
  for (const command of commands) {
    if (absorbed.has(command)) continue;
    if (command.kind !== 'pass') {
      if (command.kind === 'copy') referenced.add(command.source).add(command.destination);
      else referenced.add(command.buffer);
      passesOnly.push(command);
      continue;
    }
    const dispatches = command.dispatches.map((dispatch) => {
      const values = uniformsAtSubmit.get(dispatch) ?? new Map();
      const groups = dispatch.groups.map((group) => {
        if (!group) return group;
        const descriptor = groupEntries.get(group)!;
        const uniformKeys: string[] = [];
        const entries = [...descriptor.entries].map((entry) => {
          const binding = entry.resource as GPUBufferBinding;
          if (!binding.buffer || !isUniform(binding.buffer)) {
            if (binding.buffer) referenced.add(binding.buffer);
            return entry;
          }
          const own = ownUniform(values.get(binding.buffer)!);
          uniformKeys.push(own.key);
          return { ...entry, resource: { ...binding, buffer: own.buffer } };
        });
        const buffers = entries.map((e) => (e.resource as GPUBufferBinding).buffer).filter((b) => b && !isUniform(b));
        if (uniformKeys.length === 0) {
          boundBuffers.set(group, buffers);
          return group;
        }
        const key = `${groupIds.get(group)}|${uniformKeys.join('|')}`;
        let replacement = rebound.get(key);
        if (!replacement) rebound.set(key, (replacement = device.createBindGroup({ ...descriptor, entries })));
        boundBuffers.set(replacement, buffers);
        return replacement;
      });
      return { ...dispatch, groups };
    });
    // Consecutive passes become one: dispatches in one pass are ordered (each is its own usage scope).
    const last = passesOnly[passesOnly.length - 1];
    if (last?.kind === 'pass') last.dispatches.push(...dispatches);
    else passesOnly.push({ kind: 'pass', dispatches });
  }
  const dispatches = passesOnly.reduce((n, c) => n + (c.kind === 'pass' ? c.dispatches.length : 0), 0);
  // ORT destroys some of these buffers after a run (the intermediates it allocates per run) and may destroy
  // more later: the replay still binds them, so each referenced buffer's destroy() waits for releaseRecorded.
  const guarded = [...referenced].filter((buffer) => !kept.includes(buffer));
  const keep = (buffer: GPUBuffer) => {
    kept.push(buffer);
    setMemoryKind([buffer], KEPT_ALIVE);
  };
  setMemoryKind(kept, KEPT_ALIVE);
  for (const buffer of guarded) Object.defineProperty(buffer, 'destroy', { configurable: true, value: () => keep(buffer) });
  const transfers = passesOnly.length - passesOnly.filter((c) => c.kind === 'pass').length;
  return { result, recorded: { commands: passesOnly, dispatches, submits, uniformBuffers, transfers, keptAlive: kept, guarded, boundBuffers } };
}

/** Encodes the recorded commands into `encoder`: one compute pass per run of dispatches, copies between. */
export function encodeRecorded(encoder: GPUCommandEncoder, recorded: RecordedCommands): void {
  for (const command of recorded.commands) {
    if (command.kind === 'copy') {
      encoder.copyBufferToBuffer(command.source, command.sourceOffset, command.destination, command.destinationOffset, command.size);
    } else if (command.kind === 'clear') {
      encoder.clearBuffer(command.buffer, command.offset, command.size);
    } else {
      const pass = encoder.beginComputePass({ label: 'recorded' });
      let pipeline: GPUComputePipeline | undefined;
      const bound: Array<GPUBindGroup | undefined> = [];
      for (const { pipeline: p, groups, size } of command.dispatches) {
        if (p !== pipeline) pass.setPipeline((pipeline = p));
        groups.forEach((group, index) => {
          if (group && group !== bound[index]) pass.setBindGroup(index, (bound[index] = group));
        });
        pass.dispatchWorkgroups(...size);
      }
      pass.end();
    }
  }
}

/**
 * What the replay's intermediates would need if each buffer lived only from the first to the last command that
 * uses it (issue 16, item 2): `bound` is the bytes of the buffers `isIntermediate` picks that the replay binds,
 * copies or clears — all alive for as long as the recording is —, `atOnce` the most of them in use at once. A
 * measurement only: reusing one buffer for another whose uses all come later would also need to know that each
 * buffer is written before it is read in every replay.
 */
export function replayLifetimes(recorded: RecordedCommands, isIntermediate: (buffer: GPUBuffer) => boolean): { bound: number; atOnce: number } {
  const first = new Map<GPUBuffer, number>();
  const last = new Map<GPUBuffer, number>();
  let at = 0;
  const use = (buffer: GPUBuffer | undefined) => {
    if (!buffer || !isIntermediate(buffer)) return;
    if (!first.has(buffer)) first.set(buffer, at);
    last.set(buffer, at);
  };
  for (const command of recorded.commands) {
    if (command.kind === 'copy') {
      use(command.source);
      use(command.destination);
    } else if (command.kind === 'clear') {
      use(command.buffer);
    } else {
      for (const { groups } of command.dispatches) {
        for (const group of groups) for (const buffer of recorded.boundBuffers.get(group!) ?? []) use(buffer);
        at++;
      }
    }
    at++;
  }
  const change = new Array<number>(at + 2).fill(0);
  let bound = 0;
  for (const [buffer, start] of first) {
    bound += buffer.size;
    change[start] += buffer.size;
    change[last.get(buffer)! + 1] -= buffer.size;
  }
  let live = 0, atOnce = 0;
  for (const delta of change) atOnce = Math.max(atOnce, (live += delta));
  return { bound, atOnce };
}

/** Frees what the recording owns: its uniform buffers and the buffers it kept alive for ORT. */
export function releaseRecorded(recorded: RecordedCommands): void {
  for (const buffer of recorded.uniformBuffers) buffer.destroy();
  for (const buffer of recorded.guarded) delete (buffer as unknown as Record<string, unknown>).destroy;
  for (const buffer of recorded.keptAlive) buffer.destroy();
  recorded.keptAlive.length = 0;
}
