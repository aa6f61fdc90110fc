/**
 * ONNX models in memory and on disk: readOnnxModel (onnxRead.ts) turns the bytes of a ModelProto into an
 * OnnxModel (onnxModel.ts), encodeOnnxModel (onnxWrite.ts) turns one back into bytes for onnxruntime-web.
 * Here too: the data-type tables they share, and tensorFromValues for code that builds tensors.
 */
import type { OnnxDataType, OnnxTensor, OnnxTensorValues } from './onnxModel.ts';
import { VALUES_CLASS } from './onnxRead.ts';

export { DATA_TYPE_NUMBER, LITTLE_ENDIAN, readOnnxModel, VALUES_CLASS, type NumericDataType, type NumericValues, type ReadOnnxOptions } from './onnxRead.ts';
export { encodeOnnxModel } from './onnxWrite.ts';

/**
 * A tensor of `dataType` and `dims` holding `values`: a typed array of the type's class (VALUES_CLASS; kept,
 * not copied), or plain numbers/bigints/strings converted into one (float16 and bfloat16 numbers are their bits).
 */
export function tensorFromValues(
  name: string, dataType: OnnxDataType, dims: number[], values: OnnxTensorValues | readonly number[] | readonly bigint[] | readonly string[],
): OnnxTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count) throw new RangeError(`tensor "${name}": ${values.length} values for dims [${dims.join(', ')}]`);
  if (dataType === 'string') {
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) throw new TypeError(`tensor "${name}": a string tensor needs strings`);
    return { name, dataType, dims, values: [...values] as string[] };
  }
  const Values = VALUES_CLASS[dataType];
  if (values instanceof Values) return { name, dataType, dims, values };
  const wide = dataType === 'int64' || dataType === 'uint64';
  const converted = new Values(count);
  for (let i = 0; i < count; i++) {
    const v = values[i];
    if (typeof v === 'string') throw new TypeError(`tensor "${name}": a ${dataType} tensor needs numbers`);
    (converted as unknown as Array<number | bigint>)[i] = wide ? BigInt(v) : Number(v);
  }
  return { name, dataType, dims, values: converted };
}
