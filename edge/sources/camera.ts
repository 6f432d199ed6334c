import { Type, type Static } from '@sinclair/typebox';
import type { SourceFactory } from '../../lib/contract/source.ts';
import { CodedError } from '../../lib/errors.ts';
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
    /**
     * The detector this camera shares with the gateway's other cameras (edge/vision/shared-detector.ts):
     * one pool of sessions per model (card, weights, threads, score floor) per edge process.
     */
    detector: Type.Object(
      {
        /** false: a pool of its own (one worker), as before sharing. */
        shared: Type.Boolean({ default: true }),
        /** Sessions in the model's pool at most (default: the cores, ≤ 4); the largest any camera of the pool asks for wins. */
        workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
        /** This camera's inference budget (inferences per second); frames over it are skipped, not queued. Default: no cap. */
        inferFps: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 60 })),
        /**
         * Who resizes a frame to the model's input. `ffmpeg`: the camera's ffmpeg makes the model
         * frame in the same decode for every frame (no resize on the detector's hot path: lowest
         * latency). `worker`: the detector worker resizes (exactly as cv2) only the frames it infers.
         * `auto` (default): `ffmpeg` without motion gating; `worker` with it, since a gated camera
         * skips most frames and making a model frame for each would cost more CPU than it saves.
         */
        resize: Type.Union([Type.Literal('auto'), Type.Literal('ffmpeg'), Type.Literal('worker')], { default: 'auto' }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Motion-gated inference (edge/vision/motion/): detect only when something moves, tracks are alive, or the periodic check is due. */
    motion: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        /** Grey-level difference (1–255) from the running background that counts as a change. */
        threshold: Type.Number({ minimum: 1, maximum: 255, default: 25 }),
        /** The motion image is 1/scale of the frame in each direction (8: 768×576 → 96×72). */
        scale: Type.Integer({ minimum: 2, maximum: 64, default: 8 }),
        /** Weight of each new image in the running-average background. */
        alpha: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.02 }),
        /** Changed regions smaller than this fraction of the image are ignored. */
        minArea: Type.Number({ minimum: 0, maximum: 1, default: 0.001 }),
        /** A change over more than this fraction of the image is a scene change: recalibrate, then a full-frame check. */
        sceneChange: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.6 }),
        /** Periodic full-frame inference even without motion (s). */
        fullFrameEveryS: Type.Number({ minimum: 0.2, maximum: 3600, default: 10 }),
        /** Keep inferring this long after the last motion (s). */
        holdS: Type.Number({ minimum: 0, maximum: 60, default: 1 }),
        /** A confirmed track that has not moved for this long no longer keeps inference on (s). */
        stationaryS: Type.Number({ minimum: 0, maximum: 600, default: 3 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type CameraConfig = Static<typeof CameraConfig>;

export const cameraFactory: SourceFactory = {
  type: 'camera',
  schema: CameraConfig,
  create: (config: CameraConfig) => { checkMotion(config); return new CameraSource(config); },
};

/**
 * What the motion schema cannot say alone: CAMERA_MOTION_INVALID names the field. The motion image
 * needs ≥ 8 cells across, a region must be able to be smaller than a scene change, and the
 * periodic check cannot come more often than frames do.
 */
export function checkMotion(c: CameraConfig): void {
  const m = c.motion;
  const bad = (field: string, why: string) => { throw new CodedError('CAMERA_MOTION_INVALID', `camera ${c.id}: motion.${field} ${why}`, { camera: c.id, field }); };
  if (!m.enabled) return;
  if (c.width / m.scale < 8) bad('scale', `${m.scale} leaves ${Math.floor(c.width / m.scale)} cells across a ${c.width}-px frame; at least 8 are needed (scale ≤ ${Math.floor(c.width / 8)})`);
  if (m.minArea >= m.sceneChange) bad('minArea', `(${m.minArea}) must be below motion.sceneChange (${m.sceneChange}): no region could count as motion`);
  if (m.fullFrameEveryS * c.fps < 1) bad('fullFrameEveryS', `(${m.fullFrameEveryS} s) is shorter than one frame at ${c.fps} fps`);
}
