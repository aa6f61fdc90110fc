// `node --import ./src/kernels/node/registerWgslRaw.mjs …`: makes `import x from './k.wgsl?raw'` work.
import { register } from 'node:module';

register('./wgslRawHooks.mjs', import.meta.url);
