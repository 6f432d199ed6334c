import { describe, expect, it } from 'vitest';
import { summarize } from './site-summary.ts';

const status = (ts: number, cam: Record<string, unknown>) => ({ site: 'cam-a', online: 1, ts, received: ts, health: JSON.stringify({ sources: { 'gate-1': { online: true, dropped: 2, ...cam } } }) });

describe('site summary: camera frame rate', () => {
  it("shows the camera's own frame rate from its first status report", () => {
    const row = summarize(status(1_000_000, { framesIn: 500, fpsIn: 4.9 }), new Map());
    expect(row.cameras).toEqual([{ id: 'gate-1', fps: 4.9, dropped: 2, online: true }]);
  });

  it('an edge that does not report fpsIn gets its rate from two consecutive reports', () => {
    const prev = new Map();
    expect(summarize(status(1_000_000, { framesIn: 500 }), prev).cameras[0].fps).toBeUndefined();
    expect(summarize(status(1_010_000, { framesIn: 550 }), prev).cameras[0].fps).toBe(5);
  });
});
