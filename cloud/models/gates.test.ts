import { describe, expect, it } from 'vitest';
import { aggregate, evaluateGates, type GateSpec } from './gates.ts';
import { parseRange } from './routes.ts';

const spec: GateSpec = { minFrames: 20, maxErrorRate: 0.01, latencyFactor: 1, minFpsRatio: 0.8, maxDetectionDrift: 0.5 };
const w = (frames: number, errors: number, detections: number, p95: number, ms = 10_000) => ({ frames, errors, detections, p95, window_ms: ms });

describe('canary gates', () => {
  it('waits for enough frames, then passes a healthy canary', () => {
    expect(evaluateGates(spec, 60, aggregate([w(5, 0, 10, 20)]), null).verdict).toBe('wait');
    const v = evaluateGates(spec, 60, aggregate([w(50, 0, 100, 30), w(50, 0, 110, 40)]), aggregate([w(100, 0, 200, 35, 20_000)]));
    expect(v.verdict).toBe('pass');
    expect(v.checks.map((c) => c.gate)).toEqual(['errors', 'latency_p95', 'fps_vs_previous', 'detection_drift']);
  });
  it('fails on errors, latency against the card budget, fps and detection drift — each named in the reason', () => {
    const base = aggregate([w(100, 0, 200, 30)]);
    expect(evaluateGates(spec, 60, aggregate([w(98, 2, 196, 30)]), base).reason).toMatch(/^errors/);
    expect(evaluateGates(spec, 60, aggregate([w(100, 0, 200, 30), w(100, 0, 200, 61)]), base).reason).toMatch(/latency_p95 61 vs limit 60/);
    expect(evaluateGates({ ...spec, latencyFactor: 1.1 }, 60, aggregate([w(100, 0, 200, 61)]), base).verdict).toBe('pass');
    expect(evaluateGates(spec, 60, aggregate([w(50, 0, 100, 30)]), base).reason).toMatch(/fps_vs_previous/);
    expect(evaluateGates(spec, 60, aggregate([w(100, 0, 20, 30)]), base).reason).toMatch(/detection_drift 0\.9/);
    expect(evaluateGates({ ...spec, minFps: 20 }, 60, aggregate([w(100, 0, 200, 30)]), null).reason).toMatch(/^fps 10/);
  });
});

describe('Range header (RFC 9110 §14.1.2)', () => {
  it('parses single ranges, suffixes and open ends; refuses unsatisfiable ones', () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    for (const bad of ['bytes=100-', 'bytes=5-1', 'items=0-1', 'bytes=-0', 'bytes=-', 'bytes=0-1,5-6']) expect(parseRange(bad, 100), bad).toBeNull();
  });
});
