/**
 * Evidence images with sharp: the full frame with boxes drawn (SVG overlay composited on the
 * raw RGB frame) and a crop around the highlighted object(s). JPEG, size- and quality-capped:
 * quality steps down (and then the width halves) until the image fits `maxBytes`.
 */
import type { Box, Frame } from '../detector/types.ts';

export interface SnapshotBox {
  box: Box;
  label: string;
  highlight?: boolean;
}

/** Rule geometry to draw (zones, counting lines), pixel coordinates. */
export interface SnapshotShape {
  points: Array<[number, number]>;
  closed: boolean;
}

export interface SnapshotOptions {
  shapes?: SnapshotShape[];
  /** Longest side of the frame image (default: frame size). */
  maxWidth?: number;
  quality?: number;
  minQuality?: number;
  maxBytes?: number;
  /** Crop margin around the highlighted boxes, fraction of their size. */
  cropMargin?: number;
  /** Minimum crop side in frame pixels (default 200). */
  minCrop?: number;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function overlaySvg(width: number, height: number, boxes: SnapshotBox[], caption?: string, shapes: SnapshotShape[] = []): Buffer {
  const stroke = Math.max(2, Math.round(width / 320));
  const font = Math.max(12, Math.round(width / 50));
  const geo = shapes.map((sh) => {
    const pts = sh.points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
    return sh.closed
      ? `<polygon points="${pts}" fill="#ffd400" fill-opacity="0.12" stroke="#ffd400" stroke-width="${stroke}" stroke-dasharray="8 4"/>`
      : `<polyline points="${pts}" fill="none" stroke="#00c8ff" stroke-width="${stroke + 1}"/>`;
  });
  const parts = geo.concat(boxes.map(({ box: [x1, y1, x2, y2], label, highlight }) => {
    const c = highlight ? '#ff2a2a' : '#2ad42a';
    // A filled label tab above the box (below it at the top edge) keeps the text legible on any background.
    const tabH = font + 4;
    const tabW = Math.min(width - x1, label.length * font * 0.62 + 6);
    const tabY = y1 - tabH < 0 ? y2 : y1 - tabH;
    return `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${(x2 - x1).toFixed(1)}" height="${(y2 - y1).toFixed(1)}" fill="none" stroke="${c}" stroke-width="${stroke}"/>` +
      `<rect x="${x1.toFixed(1)}" y="${tabY.toFixed(1)}" width="${tabW.toFixed(1)}" height="${tabH}" fill="${c}" fill-opacity="0.85"/>` +
      `<text x="${(x1 + 3).toFixed(1)}" y="${(tabY + font).toFixed(1)}" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="#000">${esc(label)}</text>`;
  }));
  if (caption) {
    parts.push(`<rect x="0" y="0" width="${width}" height="${font + 10}" fill="#000" fill-opacity="0.55"/>`);
    parts.push(`<text x="6" y="${font + 4}" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="#fff">${esc(caption)}</text>`);
  }
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`);
}

type Sharp = typeof import('sharp');

async function capped(sharp: Sharp, img: Buffer, info: { width: number; height: number }, o: Required<Pick<SnapshotOptions, 'quality' | 'minQuality' | 'maxBytes'>>, maxWidth: number): Promise<Buffer> {
  let width = Math.min(info.width, maxWidth);
  for (;;) {
    for (let q = o.quality; q >= o.minQuality; q -= 15) {
      const out = await sharp(img, { raw: { width: info.width, height: info.height, channels: 3 } }).resize({ width, withoutEnlargement: true }).jpeg({ quality: q, mozjpeg: false }).toBuffer();
      if (out.length <= o.maxBytes) return out;
    }
    if (width <= 64) throw new Error(`snapshot does not fit ${o.maxBytes} bytes`);
    width = Math.round(width / 2);
  }
}

export async function makeSnapshot(frame: Frame, boxes: SnapshotBox[], opts: SnapshotOptions = {}, caption?: string): Promise<{ frame: Buffer; crop?: Buffer }> {
  const sharp = (await import('sharp')).default;
  const o = { quality: opts.quality ?? 80, minQuality: opts.minQuality ?? 35, maxBytes: opts.maxBytes ?? 200_000 };
  const { width, height } = frame;
  const raw = Buffer.from(frame.data.buffer, frame.data.byteOffset, width * height * 3);
  // draw: composite the SVG, back to raw RGB so the size cap can re-encode cheaply
  const drawn = await sharp(raw, { raw: { width, height, channels: 3 } })
    .composite([{ input: overlaySvg(width, height, boxes, caption, opts.shapes), top: 0, left: 0 }])
    .removeAlpha().raw().toBuffer();
  const full = await capped(sharp, drawn, { width, height }, o, opts.maxWidth ?? width);
  const hl = boxes.filter((b) => b.highlight);
  if (!hl.length) return { frame: full };
  const m = opts.cropMargin ?? 0.25;
  const x1 = Math.min(...hl.map((b) => b.box[0])), y1 = Math.min(...hl.map((b) => b.box[1]));
  const x2 = Math.max(...hl.map((b) => b.box[2])), y2 = Math.max(...hl.map((b) => b.box[3]));
  // margin around the object(s), at least `minCrop` px each way (a 30-px walker needs context)
  const minCrop = Math.min(opts.minCrop ?? 200, width, height);
  const cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
  const hw = Math.max(((x2 - x1) * (1 + 2 * m)) / 2, minCrop / 2), hh = Math.max(((y2 - y1) * (1 + 2 * m)) / 2, minCrop / 2);
  const left = Math.max(0, Math.min(width - 2 * hw, cx - hw)) | 0, top = Math.max(0, Math.min(height - 2 * hh, cy - hh)) | 0;
  const cw = Math.min(width - left, Math.ceil(2 * hw)), ch = Math.min(height - top, Math.ceil(2 * hh));
  if (cw < 2 || ch < 2) return { frame: full };
  let cropRaw = await sharp(drawn, { raw: { width, height, channels: 3 } }).extract({ left, top, width: cw, height: ch }).raw().toBuffer();
  let info = { width: cw, height: ch };
  const up = Math.max(cw, ch) < 320 ? 320 / Math.max(cw, ch) : 1; // small crops are enlarged for viewing
  if (up > 1) {
    info = { width: Math.round(cw * up), height: Math.round(ch * up) };
    cropRaw = await sharp(cropRaw, { raw: { width: cw, height: ch, channels: 3 } }).resize(info.width, info.height, { kernel: 'lanczos3' }).raw().toBuffer();
  }
  const crop = await capped(sharp, cropRaw, info, { ...o, maxBytes: Math.min(o.maxBytes, 100_000) }, info.width);
  return { frame: full, crop };
}
