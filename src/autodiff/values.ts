/**
 * What the autodiff passes share: a value's static type and shape, and a tensor held in float64 for the
 * reference evaluator and constant folding.
 *
 * The graphs are differentiated once their inputs' shapes are fixed (the engine runs one session per batch
 * shape): src/autodiff/specialise.ts binds the shapes, folds the integer shape arithmetic into constants and
 * gives every value a static shape; src/autodiff/vjp.ts then writes gradient nodes whose shapes and axes are
 * constants, so the gradient graph runs on the GPU without shape ops on the host.
 */
import type { OnnxDataType } from '../formats/onnxModel.ts';

/** A value's element type and its static shape (every dim a number). */
export interface StaticValue {
  dataType: OnnxDataType;
  shape: number[];
}

/** Every value of a specialised graph (inputs, initializers, node outputs), by name. */
export type ValueTable = Map<string, StaticValue>;

/**
 * A tensor for the reference evaluator: every element as a float64 number, whatever its ONNX type (ints
 * exactly up to 2^53, bool as 0/1); `dataType` keeps the ONNX type for integer division, casts and outputs.
 */
export interface Tensor64 {
  dataType: OnnxDataType;
  dims: number[];
  data: Float64Array;
}
