import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../lib/config.ts';
import { CodedError } from '../../../lib/errors.ts';
import { validateEdgeConfig } from '../../config.ts';
import { CameraConfig, cameraFactory } from '../../sources/camera.ts';

const base = { type: 'camera', id: 'cam', url: '/dev/null' };
const create = (raw: Record<string, unknown>) => cameraFactory.create(validateConfig(CameraConfig, { ...base, ...raw }, 'test'));
const codeOf = (fn: () => unknown) => { try { fn(); return undefined; } catch (e) { return e instanceof CodedError ? { code: e.code, message: e.message } : { code: 'not coded', message: String(e) }; } };

describe('camera motion config', () => {
  it('defaults: gating on, Frigate-like figures', () => {
    const c = validateConfig(CameraConfig, base, 'test');
    expect(c.motion).toEqual({ enabled: true, threshold: 25, scale: 8, alpha: 0.02, minArea: 0.001, sceneChange: 0.6, fullFrameEveryS: 10, holdS: 1, stationaryS: 3 });
    expect(c.detector).toEqual({ shared: true, resize: 'auto' });
  });

  it('out-of-range and unknown fields: CONFIG_INVALID naming the path', () => {
    for (const [motion, where] of [[{ threshold: 0 }, '/motion/threshold'], [{ alpha: 0 }, '/motion/alpha'], [{ fullFrameEveryS: 0.01 }, '/motion/fullFrameEveryS'], [{ scale: 1.5 }, '/motion/scale'], [{ treshold: 20 }, '/motion']] as const) {
      const e = codeOf(() => create({ motion }));
      expect(e?.code, JSON.stringify(motion)).toBe('CONFIG_INVALID');
      expect(e?.message).toContain(where);
    }
    expect(codeOf(() => create({ detector: { workers: 0 } }))?.code).toBe('CONFIG_INVALID');
  });

  it('what the schema cannot say: CAMERA_MOTION_INVALID naming the field, also from the edge config check', async () => {
    expect(codeOf(() => create({ width: 96, motion: { scale: 16 } }))).toMatchObject({ code: 'CAMERA_MOTION_INVALID', message: expect.stringContaining('motion.scale') });
    expect(codeOf(() => create({ motion: { minArea: 0.7, sceneChange: 0.6 } }))).toMatchObject({ code: 'CAMERA_MOTION_INVALID', message: expect.stringContaining('motion.minArea') });
    expect(codeOf(() => create({ fps: 2, motion: { fullFrameEveryS: 0.25 } }))).toMatchObject({ code: 'CAMERA_MOTION_INVALID', message: expect.stringContaining('motion.fullFrameEveryS') });
    // disabled: the other figures are not checked against each other
    expect(codeOf(() => create({ motion: { enabled: false, minArea: 0.7, sceneChange: 0.6 } }))).toBeUndefined();
    const err = await validateEdgeConfig({ site: 's1', mqtt: { url: 'mqtt://127.0.0.1:1', password: 'x' }, sources: [{ ...base, motion: { minArea: 0.9 } }] }, 'site.yaml').catch((e) => e);
    expect(err).toBeInstanceOf(CodedError);
    expect(err.code).toBe('CAMERA_MOTION_INVALID');
    expect(err.message).toContain('/sources/0');
  });
});
