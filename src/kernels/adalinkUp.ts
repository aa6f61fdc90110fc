import code from './adalinkUp.wgsl?raw';
import { checkAdalinkShape } from './adalinkDown.ts';
import {
  bindBuffers,
  ceilDiv,
  dispatchTiles,
  getKernel,
  requireBytes,
  u32,
  uniformBuffer,
  withComputePass,
  type PassTarget,
} from './common.ts';
import { chooseTile, tileCols, tileRows, tiledSpec } from './tiledMatmul.ts';

/**
 * The residual helpers of adalinkUp.wgsl: adapted[n, c…c+3] = E[n, c…c+3] + v for the 4 columns from c
 * (c a multiple of 4). When d % 4 = 0, E and adapted are bound as vec4s (one 16-byte load and store);
 * otherwise as f32, column by column, the ones past d left out.
 */
const RESIDUAL_VEC4 = `
alias ElemE = vec4f;
fn addResidual(n: u32, c: u32, v: vec4f) {
  let i = (n * params.d + c) / 4u;
  adapted[i] = E[i] + v;
}`;
const RESIDUAL_SCALAR = `
alias ElemE = f32;
fn addResidual(n: u32, c: u32, v: vec4f) {
  for (var k = 0u; k < 4u; k++) {
    if (c + k < params.d) {
      let i = n * params.d + c + k;
      adapted[i] = E[i] + v[k];
    }
  }
}`;

export interface AdalinkUpParams {
  /** f32 [N, d] input embeddings. */
  E: GPUBuffer;
  /** f32 [N, r] hidden state (after dropout). */
  H: GPUBuffer;
  /** f32 [r, d]. */
  Wup: GPUBuffer;
  /** f32 [N, d] output, a buffer other than E. */
  adapted: GPUBuffer;
  N: number;
  d: number;
  r: number;
}

/**
 * adapted = E + H · Wup. Encodes one dispatch (none when N = 0); the tile shape is tiledMatmul.ts's
 * `chooseTile('adalinkUp', N, d, r)`.
 */
export function adalinkUp(device: GPUDevice, target: PassTarget, params: AdalinkUpParams): void {
  const { E, H, Wup, adapted, N, d, r } = params;
  checkAdalinkShape(N, d, r);
  if (N === 0) return;
  if (adapted === E) throw new Error('adalinkUp: adapted must be a buffer other than E');
  requireBytes('E', E, N * d * 4);
  requireBytes('H', H, N * r * 4);
  requireBytes('Wup', Wup, r * d * 4);
  requireBytes('adapted', adapted, N * d * 4);
  const tile = chooseTile('adalinkUp', N, d, r);
  const vec4 = d % 4 === 0;
  const kernel = getKernel(
    device,
    tiledSpec({
      kernel: 'adalinkUp',
      code,
      prelude: vec4 ? RESIDUAL_VEC4 : RESIDUAL_SCALAR,
      variant: vec4 ? 'vec4' : 'scalar',
      bindings: [[0, 'uniform'], [1, 'read'], [2, 'read'], [3, 'read'], [4, 'read_write']],
      tile,
      aKFastest: true,
      bNFastest: true,
    }),
  );
  const uniforms = uniformBuffer(device, 'adalinkUp.params', [u32(N), u32(d), u32(r)]);
  const bindGroup = bindBuffers(device, kernel, { 0: uniforms, 1: E, 2: H, 3: Wup, 4: adapted });
  withComputePass(target, 'adalinkUp', (pass) => {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    dispatchTiles(pass, ceilDiv(d, tileCols(tile)), ceilDiv(N, tileRows(tile)));
  });
}
