import { Type, type Static } from '@sinclair/typebox';
import type { SourceFactory } from '../../lib/contract/source.ts';
import { CameraSource } from '../vision/camera-source.ts';
import { Rule } from '../vision/rules/schema.ts';

/** Source `type: camera`: one camera stream → detector → tracker → rules (edge/vision/README.md). */
export const CameraConfig = Type.Object(
  {
    type: Type.Literal('camera'),
    id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    /** File path, rtsp://…, or http(s)://… (MJPEG). */
    url: Type.String({ minLength: 1 }),
    kind: Type.Optional(Type.Union([Type.Literal('file'), Type.Literal('rtsp'), Type.Literal('mjpeg')])),
    fps: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 5 }),
    width: Type.Integer({ minimum: 32, maximum: 4096, default: 768 }),
    height: Type.Optional(Type.Integer({ minimum: 32, maximum: 4096 })),
    loop: Type.Boolean({ default: true }),
    /** File: pace at native speed (live-camera behaviour). false = as fast as inference allows (backpressure, media clock). */
    realtime: Type.Boolean({ default: true }),
    startS: Type.Optional(Type.Number({ minimum: 0 })),
    durationS: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** Model card name or path. */
    model: Type.String({ default: 'yolox_nano_416' }),
    /**
     * Take the detector from the site's model slot of this name (managed by a `model-manager`
     * source listed before this camera: signed bundles, rollouts, hot swap) instead of `model`.
     */
    modelSlot: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
    /** A site's own model folder + manifest (default: project manifest, <data dir>/models). */
    modelsDir: Type.Optional(Type.String({ minLength: 1 })),
    manifest: Type.Optional(Type.String({ minLength: 1 })),
    threads: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
    /** Detector score floor; ByteTrack's second stage uses detections between this and tracker.highScore. */
    scoreThreshold: Type.Number({ minimum: 0.01, maximum: 1, default: 0.2 }),
    stallTimeoutMs: Type.Optional(Type.Integer({ minimum: 100 })),
    backoff: Type.Object({ initialMs: Type.Integer({ minimum: 10, default: 500 }), maxMs: Type.Integer({ minimum: 10, default: 30_000 }) }, { additionalProperties: false, default: {} }),
    tracker: Type.Object(
      {
        highScore: Type.Optional(Type.Number()), lowScore: Type.Optional(Type.Number()), newTrackScore: Type.Optional(Type.Number()),
        matchIoU: Type.Optional(Type.Number()), minHits: Type.Optional(Type.Integer({ minimum: 1 })), maxLostMs: Type.Optional(Type.Integer({ minimum: 0 })),
      },
      { additionalProperties: false, default: {} },
    ),
    rules: Type.Array(Rule, { default: [] }),
    snapshot: Type.Object(
      { enabled: Type.Boolean({ default: true }), maxWidth: Type.Integer({ minimum: 64, default: 768 }), quality: Type.Integer({ minimum: 20, maximum: 95, default: 75 }), maxBytes: Type.Integer({ minimum: 4096, maximum: 1_000_000, default: 150_000 }) },
      { additionalProperties: false, default: {} },
    ),
    statsIntervalS: Type.Number({ minimum: 0.1, default: 10 }),
  },
  { additionalProperties: false },
);
export type CameraConfig = Static<typeof CameraConfig>;

export const cameraFactory: SourceFactory = {
  type: 'camera',
  schema: CameraConfig,
  create: (config: CameraConfig) => new CameraSource(config),
};
