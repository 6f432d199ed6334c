import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../lib/config.ts';
import { isCoded } from '../../lib/errors.ts';
import { checkers } from '../../protocol/schemas.ts';
import { validateCameraRules } from '../../protocol/validate.ts';
import { CameraConfig } from '../sources/camera.ts';
import { CameraSource } from './camera-source.ts';

/**
 * A camera reports its rules' geometry in its status (health().rules), in the protocol's
 * CameraRulesGeometry form, so the cloud console can draw the lines and zones over its frames.
 */
const config = (rules: unknown[]) => validateConfig(CameraConfig, { type: 'camera', id: 'gate-1', url: 'file.mp4', fps: 5, model: 'nanodet_m_320', rules }, 'test');

describe('camera rules geometry in the status', () => {
  it('reports every rule\'s line or zone as configured (normalised 0..1), valid against the protocol', () => {
    const cam = new CameraSource(config([
      { id: 'crossing', type: 'line', line: [[0.45, 0.1], [0.45, 0.9]], names: { forward: 'east', backward: 'west' } },
      { id: 'lamp', type: 'dwell', zone: [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9]], seconds: 5 },
      { id: 'square', type: 'crowd', zone: [[0, 0], [1, 0], [1, 1], [0, 1]], threshold: 4 },
      { id: 'entry', type: 'line', line: [[0, 0.5], [1, 0.5]] },
    ]));
    const rules = cam.health().rules;
    expect(rules).toEqual([
      { id: 'crossing', type: 'line', line: [[0.45, 0.1], [0.45, 0.9]], names: { forward: 'east', backward: 'west' } },
      { id: 'lamp', type: 'dwell', zone: [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9]] },
      { id: 'square', type: 'crowd', zone: [[0, 0], [1, 0], [1, 1], [0, 1]] },
      { id: 'entry', type: 'line', line: [[0, 0.5], [1, 0.5]], names: { forward: 'in', backward: 'out' } }, // the default names
    ]);
    expect(checkers.cameraRules.Check(rules)).toBe(true);
    // the status stays JSON: what the cloud gets back is the same geometry
    expect(validateCameraRules(JSON.parse(JSON.stringify(rules)))).toEqual(rules);
    expect(new CameraSource(config([])).health().rules).toEqual([]);
  });

  it('refuses geometry outside the frame or of an unknown shape with PROTO_CAMERA_RULES', () => {
    for (const bad of [
      [{ id: 'x', type: 'line', line: [[0.2, 1.5], [0.4, 0.2]], names: { forward: 'in', backward: 'out' } }],
      [{ id: 'x', type: 'dwell', zone: [[0, 0], [1, 1]] }],
      [{ id: 'x', type: 'circle', zone: [[0, 0], [1, 1], [0, 1]] }],
      [{ id: 'x', type: 'count', zone: [[0, 0], [1, 1], [0, 1]], extra: 1 }],
      { id: 'x' },
    ]) {
      let err: unknown;
      try { validateCameraRules(bad); } catch (e) { err = e; }
      expect(isCoded(err, 'PROTO_CAMERA_RULES'), JSON.stringify(bad)).toBe(true);
    }
  });
});
