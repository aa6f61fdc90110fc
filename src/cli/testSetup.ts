/** Every Node test process decodes images as the command-line programs do (src/cli/nodeImageDecoder.ts). */
import { installNodeImageDecoder } from './nodeImageDecoder.ts';

installNodeImageDecoder();
