/**
 * Conv: N-dimensional convolution (the vision tower's patch embeddings), as ONNX defines it.
 *
 * X is [N, C, d1, …], W is [M, C/group, k1, …], the optional B is [M]. Each spatial output position o
 * reads input positions o·stride − pad_begin + j·dilation for kernel offsets j; positions outside the input
 * read 0. auto_pad NOTSET uses `pads` ([begins…, ends…]); VALID pads nothing; SAME_UPPER/SAME_LOWER pad so
 * that out = ⌈in / stride⌉, the odd extra pad at the end (UPPER) or the beginning (LOWER).
 */
import type { OnnxNode } from '../../formats/onnxModel.ts';
import { attrInt, attrInts, attrString, opError, required, sizeOf, tensor, type OpEvaluator } from './tensor.ts';

/** A Conv's geometry: strides, dilations, begin pads, kernel and output spatial dims. */
export interface ConvGeometry {
  strides: number[];
  dilations: number[];
  begins: number[];
  kernel: number[];
  /** [N, M, out1, …]. */
  dims: number[];
}

export function convGeometry(node: OnnxNode, xDims: readonly number[], wDims: readonly number[]): ConvGeometry {
  const spatial = xDims.length - 2;
  if (spatial < 1 || wDims.length !== xDims.length) throw opError(node, `Conv of X [${xDims.join(', ')}] by W [${wDims.join(', ')}]`);
  const group = attrInt(node, 'group', 1);
  if (xDims[1] !== wDims[1] * group || wDims[0] % group !== 0) throw opError(node, `Conv channels: X has ${xDims[1]}, W expects ${wDims[1]}×${group} groups`);
  const kernel = attrInts(node, 'kernel_shape') ?? wDims.slice(2);
  const strides = attrInts(node, 'strides') ?? kernel.map(() => 1);
  const dilations = attrInts(node, 'dilations') ?? kernel.map(() => 1);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const inDims = xDims.slice(2);
  const reach = kernel.map((k, i) => (k - 1) * dilations[i] + 1);
  let begins: number[];
  let ends: number[];
  if (autoPad === 'NOTSET') {
    const pads = attrInts(node, 'pads') ?? new Array<number>(2 * spatial).fill(0);
    begins = pads.slice(0, spatial);
    ends = pads.slice(spatial);
  } else if (autoPad === 'VALID') {
    begins = kernel.map(() => 0);
    ends = kernel.map(() => 0);
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const total = inDims.map((d, i) => Math.max(0, (Math.ceil(d / strides[i]) - 1) * strides[i] + reach[i] - d));
    const small = total.map((t) => Math.floor(t / 2));
    begins = autoPad === 'SAME_UPPER' ? small : total.map((t, i) => t - small[i]);
    ends = total.map((t, i) => t - begins[i]);
  } else {
    throw opError(node, `auto_pad "${autoPad}" is not one ONNX defines`);
  }
  const outDims = inDims.map((d, i) => Math.floor((d + begins[i] + ends[i] - reach[i]) / strides[i]) + 1);
  if (outDims.some((d) => d < 1)) throw opError(node, 'Conv kernel larger than the padded input');
  return { strides, dilations, begins, kernel, dims: [xDims[0], wDims[0], ...outDims] };
}

const conv: OpEvaluator = (inputs, node) => {
  const x = required(inputs, 0, node);
  const w = required(inputs, 1, node);
  const bias = inputs[2];
  const { strides, dilations, begins, kernel, dims } = convGeometry(node, x.dims, w.dims);
  const group = attrInt(node, 'group', 1);
  const [batch, outChannels] = dims;
  const inChannels = w.dims[1];
  const outPerGroup = outChannels / group;
  const inSpatial = x.dims.slice(2);
  const outSpatial = dims.slice(2);
  const kernelSize = sizeOf(kernel);
  const outSize = sizeOf(outSpatial);
  const inSize = sizeOf(inSpatial);
  const out = tensor(x.dataType, dims);
  const o = new Array<number>(outSpatial.length);
  const j = new Array<number>(kernel.length);
  for (let n = 0; n < batch; n++) {
    for (let m = 0; m < outChannels; m++) {
      const g = Math.floor(m / outPerGroup);
      for (let p = 0; p < outSize; p++) {
        for (let r = p, k = outSpatial.length - 1; k >= 0; k--) { o[k] = r % outSpatial[k]; r = Math.floor(r / outSpatial[k]); }
        let sum = bias ? bias.data[m] : 0;
        for (let c = 0; c < inChannels; c++) {
          const xBase = (n * x.dims[1] + g * inChannels + c) * inSize;
          const wBase = (m * inChannels + c) * kernelSize;
          for (let q = 0; q < kernelSize; q++) {
            for (let r = q, k = kernel.length - 1; k >= 0; k--) { j[k] = r % kernel[k]; r = Math.floor(r / kernel[k]); }
            let at = 0;
            let inside = true;
            for (let k = 0; k < kernel.length; k++) {
              const i = o[k] * strides[k] - begins[k] + j[k] * dilations[k];
              if (i < 0 || i >= inSpatial[k]) { inside = false; break; }
              at = at * inSpatial[k] + i;
            }
            if (inside) sum += x.data[xBase + at] * w.data[wBase + q];
          }
        }
        out.data[(n * outChannels + m) * outSize + p] = sum;
      }
    }
  }
  return [out];
};

export const convOps: Record<string, OpEvaluator> = { Conv: conv };
