/**
 * An image resized and normalised on the GPU, straight into the vision graph's pixel_values: the decoded
 * RGB bytes go up once, Pillow's two passes run as resampleRows.wgsl and resampleColumns.wgsl (the same
 * integer arithmetic as src/data/resample.ts, so the same bytes), and the normalisation is a table made by
 * src/data/images.ts's normalisation, so the floats equal the CPU path's (src/kernels/resampleImage.test.ts).
 *
 * One `ImageResampler` per device and model. `resize` copies the decoded bytes into one of two mapped
 * staging buffers, used in turn (a photo's 36 MB: queue.writeBuffer spent 14 ms per photo in Dawn's own staging
 * allocation and copy, docs/BENCHMARKS.md), then submits the copy to the GPU and the two dispatches at once; the
 * next image reuses the same source and scratch buffers, as the queue runs submits in order.
 */
import type { ImagePreprocessing, RgbImage } from '../data/images.ts';
import { normalisationTable, pixelValues } from '../data/images.ts';
import { passCoefficients8bpc } from '../data/resample.ts';
import rowsCode from './resampleRows.wgsl?raw';
import columnsCode from './resampleColumns.wgsl?raw';
import { bindBuffers, ceilDiv, getKernel, requireBytes, u32, uniformBuffer, type KernelSpec } from './common.ts';

const rowsSpec: KernelSpec = {
  name: 'resampleRows.main', code: rowsCode, entryPoint: 'main',
  bindings: [[0, 'uniform'], [1, 'read'], [2, 'read'], [3, 'read'], [4, 'read_write']],
};
const columnsSpec: KernelSpec = {
  name: 'resampleColumns.main', code: columnsCode, entryPoint: 'main',
  bindings: [[0, 'uniform'], [1, 'read'], [2, 'read'], [3, 'read'], [4, 'read'], [5, 'read_write']],
};

/** Coefficient sets kept per resampler (photos of a folder come in a few sizes). */
const KEPT_AXES = 16;

interface AxisBuffers {
  ksize: number;
  /** The first and one-past-the-last source index any output reads. */
  first: number;
  last: number;
  bounds: GPUBuffer;
  weights: GPUBuffer;
}

export class ImageResampler {
  private readonly axes = new Map<string, AxisBuffers>();
  private readonly table: GPUBuffer;
  private source: GPUBuffer | undefined;
  private scratch: GPUBuffer | undefined;
  /** MAP_WRITE buffers the decoded bytes are copied into, used in turn. */
  private readonly staging: Array<GPUBuffer | undefined> = [undefined, undefined];
  private uploads = 0;

  private readonly maxBindingBytes: number;

  /**
   * `where`: what a normalisation that is not finite is blamed on (normalisationTable; the first image).
   * `maxBindingBytes`: the largest storage binding the kernels may use (the device's limit); an image whose bytes
   * or intermediate rows need more is resized on the CPU (src/data/resample.ts: the same floats) and uploaded.
   */
  constructor(private readonly device: GPUDevice, private readonly preprocessing: ImagePreprocessing,
    options: { where?: string; maxBindingBytes?: number } = {}) {
    this.maxBindingBytes = options.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize;
    this.table = this.upload('resample.table', normalisationTable(preprocessing, options.where ?? 'the image'));
  }

  /** Floats one image takes in pixel_values: 3·S·S. */
  get floatsPerImage(): number {
    return 3 * this.preprocessing.size * this.preprocessing.size;
  }

  /**
   * Resizes `image` to S×S as the processor does and writes its normalised CHW floats at image slot `slot`
   * of `pixels` (f32 [B, 3, S, S]). Submits its work.
   */
  async resize(image: RgbImage, pixels: GPUBuffer, slot: number): Promise<void> {
    const { device } = this;
    const { size, resample } = this.preprocessing;
    requireBytes('pixels', pixels, (slot + 1) * this.floatsPerImage * 4);
    const horizontal = this.axis(image.width, size);
    const vertical = this.axis(image.height, size);
    // The horizontal pass runs on the rows the vertical pass reads (Pillow's ybox_first … ybox_last).
    const rows = vertical.last - vertical.first;
    const bytes = Math.ceil(image.rgb.length / 4) * 4;
    if (this.grown(bytes) > this.maxBindingBytes || this.grown(rows * size * 3 * 4) > this.maxBindingBytes) {
      const values = pixelValues(image, this.preprocessing);
      device.queue.writeBuffer(pixels, slot * this.floatsPerImage * 4, values as Float32Array<ArrayBuffer>);
      return;
    }
    const source = (this.source = this.atLeast(this.source, 'resample.source', bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST));
    const scratch = (this.scratch = this.atLeast(this.scratch, 'resample.rows', rows * size * 3 * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST));
    const turn = this.uploads++ % this.staging.length;
    let staging = this.staging[turn];
    if (staging && staging.size >= bytes) {
      await staging.mapAsync(GPUMapMode.WRITE); // waits for the GPU's copy out of it, two images ago
    } else {
      staging?.destroy();
      staging = this.staging[turn] = device.createBuffer({
        label: 'resample.staging', size: this.grown(bytes), usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true,
      });
    }
    new Uint8Array(staging.getMappedRange(0, bytes)).set(image.rgb);
    staging.unmap();

    const encoder = device.createCommandEncoder({ label: `resample ${image.width}×${image.height} → ${size}² (${resample})` });
    encoder.copyBufferToBuffer(staging, 0, source, 0, bytes);
    const pass = encoder.beginComputePass({ label: 'resample' });
    const rowsKernel = getKernel(device, rowsSpec);
    pass.setPipeline(rowsKernel.pipeline);
    pass.setBindGroup(0, bindBuffers(device, rowsKernel, {
      0: uniformBuffer(device, 'resampleRows.params', [u32(image.width), u32(vertical.first), u32(rows), u32(size), u32(horizontal.ksize)]),
      1: source, 2: horizontal.bounds, 3: horizontal.weights, 4: scratch,
    }));
    pass.dispatchWorkgroups(ceilDiv(size, 64), rows);
    const columnsKernel = getKernel(device, columnsSpec);
    pass.setPipeline(columnsKernel.pipeline);
    pass.setBindGroup(0, bindBuffers(device, columnsKernel, {
      0: uniformBuffer(device, 'resampleColumns.params', [u32(size), u32(size), u32(vertical.first), u32(vertical.ksize), u32(slot * this.floatsPerImage)]),
      1: scratch, 2: vertical.bounds, 3: vertical.weights, 4: this.table, 5: pixels,
    }));
    pass.dispatchWorkgroups(ceilDiv(size, 64), size);
    pass.end();
    device.queue.submit([encoder.finish()]);
  }

  destroy(): void {
    for (const axis of this.axes.values()) {
      axis.bounds.destroy();
      axis.weights.destroy();
    }
    this.axes.clear();
    this.table.destroy();
    this.source?.destroy();
    this.scratch?.destroy();
    for (const b of this.staging) b?.destroy();
  }

  /** One axis's coefficients on the GPU, made once per input size. */
  private axis(inSize: number, outSize: number): AxisBuffers {
    const key = `${inSize}→${outSize}`;
    let axis = this.axes.get(key);
    if (!axis) {
      if (this.axes.size >= KEPT_AXES) {
        const [oldKey, old] = this.axes.entries().next().value!;
        old.bounds.destroy();
        old.weights.destroy();
        this.axes.delete(oldKey);
      }
      const c = passCoefficients8bpc(inSize, outSize, this.preprocessing.resample);
      const bounds = new Int32Array(2 * outSize);
      for (let i = 0; i < outSize; i++) {
        bounds[2 * i] = c.start[i];
        bounds[2 * i + 1] = c.count[i];
      }
      axis = {
        ksize: c.ksize, first: c.start[0], last: c.start[outSize - 1] + c.count[outSize - 1],
        bounds: this.upload(`resample.bounds ${key}`, bounds), weights: this.upload(`resample.weights ${key}`, c.weights),
      };
      this.axes.set(key, axis);
    }
    return axis;
  }

  private upload(label: string, data: Int32Array | Float32Array): GPUBuffer {
    const buffer = this.device.createBuffer({ label, size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buffer, 0, data as Int32Array<ArrayBuffer>);
    return buffer;
  }

  /** `buffer` if it holds `bytes`, else a larger one (the old one destroyed: the queue finishes its work first). */
  private atLeast(buffer: GPUBuffer | undefined, label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    if (buffer && buffer.size >= bytes) return buffer;
    buffer?.destroy();
    return this.device.createBuffer({ label, size: this.grown(bytes), usage });
  }

  /** A quarter more than asked (photos of a folder differ a little in size), in whole 16 bytes. */
  private grown(bytes: number): number {
    return Math.max(16, Math.ceil((bytes * 5) / 4 / 16) * 16);
  }
}
