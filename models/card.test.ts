import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCoded } from '../lib/errors.ts';
import { dataFile } from '../lib/data-dir.ts';
import { tempDir } from '../test/peers/ports.ts';
import { loadCard, loadManifest, resolveModel, sha256File, validateCard } from './card.ts';

function codeOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (err) { return isCoded(err) ? err.code : `uncoded: ${String(err)}`; }
  return undefined;
}

describe('model cards', () => {
  it('all shipped cards validate and resolve their weights with verified sha256', () => {
    for (const name of ['yolox_nano_416', 'nanodet_m_320', 'nanodet_m_416']) {
      const r = resolveModel(loadCard(name));
      expect(r.labels).toHaveLength(80);
      expect(r.labels[0]).toBe('person');
      expect(sha256File(r.modelPath)).toBe(r.card.sha256);
    }
  });

  it('manifest digests are the digests of the files in the data dir', () => {
    for (const a of loadManifest().artifacts) expect(sha256File(dataFile('models', a.file))).toBe(a.sha256);
  });

  it('rejects bad cards with MODEL_CARD_INVALID naming the path', () => {
    const good = JSON.parse(fs.readFileSync('models/cards/yolox_nano_416.json', 'utf8'));
    const bad = structuredClone(good);
    bad.input.colorOrder = 'BRG';
    let err: unknown;
    try { validateCard(bad, 'x.json'); } catch (e) { err = e; }
    expect(isCoded(err, 'MODEL_CARD_INVALID')).toBe(true);
    expect(String((err as Error).message)).toContain('/input/colorOrder');
    const extra = { ...structuredClone(good), surprise: 1 };
    expect(codeOf(() => validateCard(extra))).toBe('MODEL_CARD_INVALID');
    const stride = structuredClone(good);
    stride.decoder.strides = [8, 16, 30];
    expect(codeOf(() => validateCard(stride))).toBe('MODEL_CARD_INVALID');
    const nano = JSON.parse(fs.readFileSync('models/cards/nanodet_m_320.json', 'utf8'));
    nano.decoder.outputs = nano.decoder.outputs.slice(0, 3);
    expect(codeOf(() => validateCard(nano))).toBe('MODEL_CARD_INVALID');
    expect(codeOf(() => loadCard('/nonexistent/card.json'))).toBe('MODEL_CARD_NOT_FOUND');
  });

  it('detects damaged weights, card/manifest disagreement and missing artifacts', () => {
    const dir = tempDir('cityedge-card-');
    const card = loadCard('yolox_nano_416');
    const manifest = loadManifest();
    const bytes = fs.readFileSync(dataFile('models', 'yolox_nano_416.onnx'));
    bytes[1000] ^= 0xff; // one flipped byte
    fs.writeFileSync(path.join(dir, 'yolox_nano_416.onnx'), bytes);
    expect(codeOf(() => resolveModel(card, { manifest, modelsDir: dir }))).toBe('MODEL_DIGEST_MISMATCH');
    expect(codeOf(() => resolveModel({ ...card, sha256: '0'.repeat(64) }))).toBe('MODEL_DIGEST_MISMATCH');
    expect(codeOf(() => resolveModel({ ...card, artifact: 'nope' }))).toBe('MODEL_NOT_IN_MANIFEST');
    fs.rmSync(path.join(dir, 'yolox_nano_416.onnx'));
    expect(codeOf(() => resolveModel(card, { manifest, modelsDir: dir }))).toBe('MODEL_FILE_MISSING');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
