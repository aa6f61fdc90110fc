/**
 * Every gradient rule, by op type (default ONNX domain). To add one: write it in the file of its kind (or a new
 * file), add its table here, and a case to src/autodiff/rules.test.ts; src/autodiff/README.md lists them all.
 */
import { arithmeticRules } from './arithmetic.ts';
import { indexingRules } from './indexing.ts';
import { matmulRules } from './matmul.ts';
import { nnRules } from './nn.ts';
import { passThroughRules } from './passThrough.ts';
import { reductionRules } from './reductions.ts';
import type { Rule } from './rule.ts';
import { selectionRules } from './selection.ts';
import { shapeRules } from './shape.ts';
import { unaryRules } from './unary.ts';

export const RULES: ReadonlyMap<string, Rule> = new Map(Object.entries({
  ...arithmeticRules, ...unaryRules, ...selectionRules, ...passThroughRules,
  ...matmulRules, ...nnRules, ...reductionRules, ...shapeRules, ...indexingRules,
}));

export type { Rule } from './rule.ts';
