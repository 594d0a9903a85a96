import { extname, join } from 'node:path';
import { FormatError, InvalidArgumentError } from '@tessera/core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InMemoryDataset, type DatasetSplit, type ImageDataset } from './dataset.js';
import { isDirectory, listDirectory, readFileBounded } from './files.js';
import { Resizer } from './resize.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** A decoded image as packed RGB (alpha dropped: composited over nothing, as PIL's convert('RGB')). */
interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

function rgbaToRgb(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    rgb[3 * p] = rgba[4 * p] as number;
    rgb[3 * p + 1] = rgba[4 * p + 1] as number;
    rgb[3 * p + 2] = rgba[4 * p + 2] as number;
  }
  return rgb;
}

export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new FormatError(`${file} is neither a PNG nor a JPEG (its first bytes are not a PNG or JPEG signature)`);
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      decoded = { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } else {
      decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 512, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6 });
    }
  } catch (cause) {
    throw new FormatError(`${file} is a corrupt or truncated ${isPng ? 'PNG' : 'JPEG'}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  const { width, height, data } = decoded;
  if (!(width > 0 && height > 0) || data.length < width * height * 4) {
    throw new FormatError(`${file} decoded to ${width}x${height} with ${data.length} bytes of pixels; the image is damaged`);
  }
  return { width, height, rgb: rgbaToRgb(data, width, height) };
}

async function classFolders(dir: string): Promise<string[]> {
  const names = await listDirectory(dir);
  const folders: string[] = [];
  for (const name of names) if (!name.startsWith('.') && (await isDirectory(join(dir, name)))) folders.push(name);
  return folders;
}

const LAYOUT = '<dir>/train/<class>/<image>.png|jpg and <dir>/test/<class>/<image>.png|jpg (or <dir>/val/...)';

/**
 * The folder of a split. Both splits must exist: with one folder for both,
 * evaluation would score the training images (a 100% that means nothing).
 */
async function splitDirectory(root: string, split: DatasetSplit): Promise<string> {
  const train = join(root, 'train');
  const test = (await isDirectory(join(root, 'test'))) ? join(root, 'test') : (await isDirectory(join(root, 'val'))) ? join(root, 'val') : undefined;
  if (!(await isDirectory(train)) || test === undefined) {
    throw new FormatError(
      `folder:${root} needs separate training and test images, laid out as ${LAYOUT}; it has ${(await isDirectory(train)) ? 'train/ but no test/ or val/' : 'no train/ folder'}. ` +
        'Move part of each class into test/<class>/ (the test split must not contain training images).',
    );
  }
  return split === 'train' ? train : test;
}

/** Images larger than this (in pixels) are refused before decoding: the decoder would allocate width × height × 4 bytes. */
const MAX_IMAGE_PIXELS = 64 * 1024 * 1024;
/** Image files larger than this are not read. */
const MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024;

/** A PNG's declared size, from its IHDR chunk, refused before decoding when it is absurd. */
function checkPngSize(bytes: Uint8Array, file: string): void {
  if (bytes.length < 24) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16, false);
  const height = view.getUint32(20, false);
  if (width * height > MAX_IMAGE_PIXELS) throw new FormatError(`${file} declares ${width}x${height} pixels; images of at most ${MAX_IMAGE_PIXELS} pixels are decoded`);
}

/**
 * An ImageFolder tree: one sub-folder per class (sorted names are the classes), PNG
 * or JPEG files inside, under `<dir>/train` and `<dir>/test` (or `<dir>/val`): both
 * splits are required. Images are decoded, converted to RGB and
 * resized to `imgSize` (or the first image's size) at load.
 */
export async function openImageFolder(root: string, split: DatasetSplit, imgSize?: number, size?: number): Promise<ImageDataset> {
  if (!(await isDirectory(root))) throw new InvalidArgumentError('dataset', `folder:${root}`, 'folder:<directory of class sub-folders>, but the directory does not exist');
  // Classes come from the training folder so train and test agree on label indices.
  const classDir = await splitDirectory(root, 'train');
  const classNames = await classFolders(classDir);
  if (classNames.length === 0) throw new FormatError(`${classDir} has no class sub-folders; expected <dir>/<class>/<image>.png|jpg`);
  const dir = await splitDirectory(root, split);
  const present = await classFolders(dir);
  const unknown = present.filter((name) => !classNames.includes(name));
  if (unknown.length > 0) {
    throw new FormatError(`${dir} has class folders ${unknown.join(', ')} that ${classDir} lacks; the ${split} classes must be among: ${classNames.join(', ')}`);
  }
  const files: { path: string; label: number }[] = [];
  for (const name of present) {
    const label = classNames.indexOf(name);
    for (const file of await listDirectory(join(dir, name))) {
      if (IMAGE_EXTENSIONS.has(extname(file).toLowerCase())) files.push({ path: join(dir, name, file), label });
    }
  }
  if (files.length === 0) throw new FormatError(`${dir} holds no .png, .jpg or .jpeg files in its class folders (${present.join(', ') || 'none'})`);
  const keep = size === undefined ? files : files.slice(0, size);

  let height = imgSize ?? 0;
  let width = imgSize ?? 0;
  let pixels: Uint8Array | undefined;
  const labels = new Int32Array(keep.length);
  const resizers = new Map<string, Resizer>();
  for (const [i, { path, label }] of keep.entries()) {
    const bytes = await readFileBounded(path, MAX_IMAGE_FILE_BYTES, 'PNG or JPEG image');
    if (bytes[0] === 0x89) checkPngSize(bytes, path);
    const image = decodeImage(bytes, path);
    if (pixels === undefined) {
      if (imgSize === undefined) {
        height = image.height;
        width = image.width;
      }
      pixels = new Uint8Array(keep.length * height * width * 3);
    }
    const target = pixels.subarray(i * height * width * 3, (i + 1) * height * width * 3);
    if (image.height === height && image.width === width) {
      target.set(image.rgb);
    } else {
      const key = `${image.height}x${image.width}`;
      let resizer = resizers.get(key);
      if (resizer === undefined) {
        resizer = new Resizer(image.height, image.width, height, width, 3);
        resizers.set(key, resizer);
      }
      resizer.resizeToUint8(image.rgb, target);
    }
    labels[i] = label;
  }
  return new InMemoryDataset('folder', classNames, height, width, 3, pixels as Uint8Array, labels);
}
