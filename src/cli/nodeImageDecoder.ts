/**
 * Images in Node (the command-line trainer, the tests, the benchmarks): JPEG (baseline, progressive, grey,
 * CMYK/YCCK), WebP, AVIF, GIF's first frame and TIFF through sharp (libvips: libjpeg-turbo, libwebp,
 * libheif), BMP through bmp-ts. Read as Pillow reads them (docs/IMAGES.md): EXIF orientation applied, no ICC
 * profile applied, alpha dropped with the stored colour kept, CMYK turned into RGB by Pillow's own formula.
 * libvips decodes on its own threads, so several images decode at once while JavaScript resizes.
 *
 * `installNodeImageDecoder()` makes it the decoder of src/data/images.ts; `runCli` and the test setup call it.
 */
import { decode as decodeBmpFile } from 'bmp-ts';
import sharp from 'sharp';
import { useImageDecoder, type ImageDecoder, type RgbImage } from '../data/images.ts';

/** Pillow's cmyk2rgb (libImaging/Convert.c): nk = 255 - k; out = nk - round(c·nk / 255), MULDIV255's rounding. */
function cmykToRgb(cmyk: Uint8Array, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const nk = 255 - cmyk[p * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const t = cmyk[p * 4 + c] * nk + 128;
      rgb[p * 3 + c] = Math.max(0, Math.min(255, nk - (((t >> 8) + t) >> 8)));
    }
  }
  return rgb;
}

function isBmp(bytes: Uint8Array): boolean {
  return bytes.length > 14 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

/** BMP (libvips has no BMP loader): bmp-ts gives ABGR bytes, bottom-up rows already flipped. */
function decodeBmp(bytes: Uint8Array, maxPixels: number): RgbImage {
  const bmp = decodeBmpFile(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const width = bmp.width;
  const height = Math.abs(bmp.height);
  if (width * height > maxPixels) throw new Error(`${width}×${height} is too large`);
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    rgb[p * 3] = bmp.data[p * 4 + 3];
    rgb[p * 3 + 1] = bmp.data[p * 4 + 2];
    rgb[p * 3 + 2] = bmp.data[p * 4 + 1];
  }
  return { width, height, rgb };
}

export const nodeImageDecoder: ImageDecoder = {
  name: 'sharp',
  async decode(bytes: Uint8Array, maxPixels: number): Promise<RgbImage> {
    if (isBmp(bytes)) return decodeBmp(bytes, maxPixels);
    const input = () => sharp(bytes, {
      failOn: 'error', limitInputPixels: maxPixels, ignoreIcc: true, autoOrient: true, page: 0, pages: 1,
    });
    const { space } = await input().metadata();
    if (space === 'cmyk') {
      // libvips would convert CMYK through an ICC profile; Pillow and the browser use a plain formula.
      const { data, info } = await input().pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 4) throw new Error(`a CMYK image decoded to ${info.channels} channels`);
      return { width: info.width, height: info.height, rgb: cmykToRgb(data, info.width * info.height) };
    }
    const { data, info } = await input().removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, not RGB`);
    return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  },
};

/** sharp decodes on libuv's thread pool, sized before the program starts by src/cli/threadPool.cjs. */
export function installNodeImageDecoder(): void {
  useImageDecoder(nodeImageDecoder);
}
