import { CodedError, errMessage } from '../../../lib/errors.ts';
import type { Frame } from './types.ts';

/** Decode an image file (JPEG/PNG/...) to a packed RGB frame with sharp (alpha dropped). */
export async function readImageRgb(file: string): Promise<Frame> {
  const sharp = (await import('sharp')).default;
  try {
    const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (err) {
    throw new CodedError('IMAGE_UNREADABLE', `cannot decode image ${file}: ${errMessage(err)}`, { file });
  }
}
