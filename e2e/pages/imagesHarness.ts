/**
 * A page for e2e/images.browser.test.ts: src/data/images.ts in the browser (its decoder there is the
 * browser's own, src/data/browserImageDecoder.ts, for all but PNG and GIF), driven through `window.imagesHarness`.
 */
import { browserImageDecoder } from '../../src/data/browserImageDecoder.ts';
import { checkImage, decodeImage, resizedRgb, useImageDecoder } from '../../src/data/images.ts';
import type { ResampleFilter } from '../../src/data/resample.ts';

function base64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

useImageDecoder(browserImageDecoder);

const harness = {
  /** The dataset check's verdict on a served image: 'ok', or the error's message. */
  async check(url: string) {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    return checkImage(bytes, url).then(() => 'ok', (e: Error) => `${e.name}: ${e.message}`);
  },
  /** A served image decoded, and resized to each (size, filter): RGB bytes as base64; or the error's message. */
  async decode(url: string, resizes: Array<{ size: number; filter: ResampleFilter }>) {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    try {
      const image = await decodeImage(bytes, url);
      return {
        width: image.width, height: image.height, rgb: base64(image.rgb),
        resized: resizes.map((r) => base64(resizedRgb(image, { size: r.size, resample: r.filter }))),
      };
    } catch (e) {
      return { error: `${(e as Error).name}: ${(e as Error).message}` };
    }
  },
};

declare global {
  interface Window {
    imagesHarness: typeof harness;
  }
}
window.imagesHarness = harness;
document.getElementById('status')!.textContent = 'ready';
