/**
 * Canary health gates, evaluated from the `model_stats` telemetry a site reports per model
 * version (edge/models/slot.ts): the candidate's window since it went live against the previous
 * model's window on the same site before the deploy.
 */
import { Type, type Static } from '@sinclair/typebox';

export const GateSpecSchema = Type.Object({
  minFrames: Type.Integer({ minimum: 1, default: 20, description: 'frames the canary must have run before it is judged' }),
  maxErrorRate: Type.Number({ minimum: 0, maximum: 1, default: 0.01, description: 'inference errors / frames' }),
  latencyBudgetMs: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'p95 limit; default the card budget' })),
  latencyFactor: Type.Number({ exclusiveMinimum: 0, default: 1, description: 'p95 must be ≤ budget × factor' }),
  minFps: Type.Optional(Type.Number({ minimum: 0 })),
  minFpsRatio: Type.Number({ minimum: 0, default: 0.8, description: 'candidate fps ≥ ratio × previous model fps on the site' }),
  maxDetectionDrift: Type.Number({ minimum: 0, default: 0.5, description: '|rate − previous rate| / previous rate of detections per frame' }),
}, { additionalProperties: false });
export type GateSpec = Static<typeof GateSpecSchema>;

export interface WindowAgg {
  frames: number;
  errors: number;
  detections: number;
  /** Worst window p95 in the span (conservative). */
  p95Ms: number;
  fps: number;
}

export interface GateCheck {
  gate: string;
  value: number;
  limit: number;
  pass: boolean;
}

export interface GateVerdict {
  verdict: 'pass' | 'fail' | 'wait';
  checks: GateCheck[];
  reason: string;
}

export function aggregate(rows: Array<{ frames: number; errors: number; detections: number; p95: number; window_ms: number }>): WindowAgg | null {
  if (!rows.length) return null;
  let frames = 0, errors = 0, detections = 0, p95 = 0, ms = 0;
  for (const r of rows) {
    frames += r.frames; errors += r.errors; detections += r.detections; ms += r.window_ms;
    if (r.frames > 0) p95 = Math.max(p95, r.p95);
  }
  return { frames, errors, detections, p95Ms: p95, fps: ms > 0 ? (frames * 1000) / ms : 0 };
}

export function evaluateGates(spec: GateSpec, cardBudgetMs: number, cand: WindowAgg | null, base: WindowAgg | null): GateVerdict {
  if (!cand || cand.frames + cand.errors < spec.minFrames) {
    return { verdict: 'wait', checks: [], reason: `canary ran ${cand ? cand.frames + cand.errors : 0} of ${spec.minFrames} frames needed to judge it` };
  }
  const checks: GateCheck[] = [];
  const total = cand.frames + cand.errors;
  const errRate = cand.errors / total;
  checks.push({ gate: 'errors', value: errRate, limit: spec.maxErrorRate, pass: errRate <= spec.maxErrorRate });
  const budget = (spec.latencyBudgetMs ?? cardBudgetMs) * spec.latencyFactor;
  checks.push({ gate: 'latency_p95', value: cand.p95Ms, limit: budget, pass: cand.p95Ms <= budget });
  if (spec.minFps !== undefined) checks.push({ gate: 'fps', value: cand.fps, limit: spec.minFps, pass: cand.fps >= spec.minFps });
  if (base && base.frames > 0) {
    const fpsLimit = base.fps * spec.minFpsRatio;
    checks.push({ gate: 'fps_vs_previous', value: cand.fps, limit: fpsLimit, pass: cand.fps >= fpsLimit });
    const baseRate = base.detections / base.frames;
    const rate = cand.frames > 0 ? cand.detections / cand.frames : 0;
    const drift = Math.abs(rate - baseRate) / Math.max(baseRate, 0.1);
    checks.push({ gate: 'detection_drift', value: drift, limit: spec.maxDetectionDrift, pass: drift <= spec.maxDetectionDrift });
  }
  const failed = checks.filter((c) => !c.pass);
  const fmt = (n: number) => Number(n.toFixed(3));
  return {
    verdict: failed.length ? 'fail' : 'pass',
    checks: checks.map((c) => ({ ...c, value: fmt(c.value), limit: fmt(c.limit) })),
    reason: failed.length ? failed.map((c) => `${c.gate} ${fmt(c.value)} vs limit ${fmt(c.limit)}`).join('; ') : 'all gates passed',
  };
}
