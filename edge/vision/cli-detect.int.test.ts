import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { describe, expect, it, vi } from 'vitest';
import { dataFile } from '../../lib/data-dir.ts';
import { isCoded } from '../../lib/errors.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { register } from '../../cli/commands/detect.ts';
import { iou, type Box } from './detector/types.ts';

async function run(args: string[]): Promise<string> {
  const program = new Command();
  program.exitOverride();
  register(program);
  const out: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((s: string) => { out.push(s); });
  try {
    await program.parseAsync(['node', 'cityedge', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out.join('\n');
}

describe('cityedge detect', () => {
  it('prints detections in original pixels and writes the annotated image', async () => {
    const dir = tempDir('cityedge-detect-');
    const outFile = path.join(dir, 'annotated.jpg');
    const res = JSON.parse(await run(['detect', '--model', 'yolox_nano_416', dataFile('images', 'darknet_dog.jpg'), '--out', outFile]));
    expect(res.width).toBe(768);
    const dog = res.detections.find((d: { class: string }) => d.class === 'dog');
    // OpenCV reference box (detector tests): dog 132.8 206.6 325.7 543.1
    expect(iou(dog.box as Box, [132.8, 206.6, 325.7, 543.1])).toBeGreaterThan(0.95);
    expect(new Set(res.detections.map((d: { class: string }) => d.class))).toEqual(new Set(['dog', 'bicycle', 'car']));
    const meta = await sharp(outFile).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 768, 576]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('self-test passes for a card; unreadable image is a coded error', async () => {
    expect(JSON.parse(await run(['detect', '--model', 'nanodet_m_320', '--self-test'])).ok).toBe(true);
    const err = await run(['detect', '--model', 'nanodet_m_320', '/nonexistent.jpg']).catch((e) => e);
    expect(isCoded(err, 'IMAGE_UNREADABLE')).toBe(true);
  });
});
