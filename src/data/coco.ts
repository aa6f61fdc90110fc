/**
 * COCO captions JSON (docs/FORMATS.md): `images: [{id, file_name}]` and `annotations: [{image_id, caption}]`,
 * several annotations per image. The split comes from the file's name (captions_train2017.json → train,
 * captions_val2017.json → validation), and images are looked for where COCO keeps them: beside the
 * JSON, in images/, or in the folder the name suggests (train2017/).
 */
import { DEFAULT_SPLIT, decodeText, normaliseSplit, type DatasetBuilder } from './captionDataset.ts';
import { shorten } from '../errors.ts';

/** Why a JSON file is not COCO captions, for the error a person reads. */
export interface NotADataset {
  problem: string;
  fix: string;
}

const COCO_FIX = 'A COCO captions file is {"images": [{"id": 1, "file_name": "0001.png"}], "annotations": [{"image_id": 1, "caption": "…"}]}.';

/**
 * The split a file's name points to, and the folder its images may sit in: captions_val2017.json →
 * validation, val2017/. The last word that names a split wins (annotations_trainval… has none that does).
 */
export function splitOfFileName(path: string): { split: string; folder?: string } {
  const stem = path.split('/').pop()!.replace(/\.[^.]*$/, '').toLowerCase();
  for (const word of stem.split(/[^a-z0-9]+/).reverse()) {
    const bare = word.replace(/\d+$/, '');
    const split = normaliseSplit(bare);
    if (split === 'train' || split === 'validation' || split === 'test') return { split, folder: word };
  }
  return { split: DEFAULT_SPLIT };
}

/** Adds the captions of one COCO file, or says why the file is not COCO captions. */
export function addCocoRows(builder: DatasetBuilder, path: string, bytes: Uint8Array): NotADataset | undefined {
  const { text, utf8 } = decodeText(bytes, path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { problem: `${path} is not valid JSON: ${shorten((e as Error).message, 200)}`, fix: `Fix the file, or export it again. ${COCO_FIX}` };
  }
  const root = json as { images?: unknown; annotations?: unknown };
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !Array.isArray(root.images) || !Array.isArray(root.annotations)) {
    return { problem: `${path} is not COCO captions: it needs an "images" list and an "annotations" list`, fix: COCO_FIX };
  }
  const { split, folder } = splitOfFileName(path);
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  // Official COCO keeps the JSON in annotations/ and the images in train2017/ beside it.
  const base = dir.split('/').pop() === 'annotations' ? dir.slice(0, Math.max(0, dir.length - 'annotations'.length - 1)) : dir;
  const join = (a: string, b: string) => (a === '' ? b : `${a}/${b}`);
  const fallbackDirs = [...new Set([base, join(base, 'images'), ...(folder ? [join(base, folder), join(base, `images/${folder}`)] : [])])];
  const context = { dir, defaultSplit: split, utf8, fileColumn: 'file_name', fallbackDirs };

  const files = new Map<string, unknown>();
  root.images.forEach((image: unknown, i) => {
    const where = `${path} images[${i}]`;
    const record = image as { id?: unknown; file_name?: unknown };
    if (typeof image !== 'object' || image === null) return builder.skip(where, 'not an object with "id" and "file_name"');
    if (typeof record.id !== 'number' && typeof record.id !== 'string') return builder.skip(where, 'no "id"');
    const key = String(record.id);
    if (files.has(key)) return builder.skip(where, `id ${shorten(key)} is used by an earlier image`);
    files.set(key, record.file_name);
  });
  root.annotations.forEach((annotation: unknown, i) => {
    const where = `${path} annotations[${i}]`;
    if (typeof annotation !== 'object' || annotation === null) return builder.skip(where, 'not an object with "image_id" and "caption"');
    const record = annotation as { image_id?: unknown; caption?: unknown; prompt?: unknown; question?: unknown; task?: unknown };
    if (typeof record.image_id !== 'number' && typeof record.image_id !== 'string') return builder.skip(where, 'no "image_id"');
    const key = String(record.image_id);
    if (!files.has(key)) return builder.skip(where, `image_id ${shorten(key)} is not among the images`);
    if (!Object.hasOwn(record, 'caption')) return builder.skip(where, 'no "caption"');
    builder.addRow(where, context, {
      file: files.get(key), captions: record.caption, prompt: record.prompt ?? record.question, task: record.task,
    });
  });
  return undefined;
}
