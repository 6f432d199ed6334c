/** A decoded video frame or image: packed RGB, 3 bytes per pixel, row-major, no padding. */
export interface Frame {
  data: Uint8Array;
  width: number;
  height: number;
  /**
   * Optional: this frame already resized for a model (by ffmpeg, in the same decode). When it fits
   * the detector's card, the detector uses it and resamples nothing; otherwise it is ignored.
   */
  model?: ModelFrame;
}

/** The input geometry of a model card: canvas size, letterbox placement, resampling. */
export interface ModelInputSpec {
  /** Canvas (tensor) width and height. */
  width: number;
  height: number;
  letterbox: 'top-left' | 'center' | 'stretch';
  /** `bilinear` = cv2.INTER_LINEAR, `area` = cv2.INTER_AREA. */
  resize: 'bilinear' | 'area';
}

/**
 * A frame resized to a model's letterbox size: the image inside the canvas (newW×newH of the
 * letterbox of the full frame's width×height), packed RGB, without the padding.
 */
export interface ModelFrame {
  data: Uint8Array;
  width: number;
  height: number;
  spec: ModelInputSpec;
}

/** Box in original frame pixels: [x1, y1, x2, y2]. */
export type Box = [number, number, number, number];

export interface Detection {
  /** 0-based model class index. */
  cls: number;
  label: string;
  score: number;
  box: Box;
}

export interface DetectTimings {
  preMs: number;
  inferMs: number;
  postMs: number;
}

export interface DetectResult {
  detections: Detection[];
  timings: DetectTimings;
  /** true when the detector resized the frame itself (no fitting `frame.model`); false when it only normalised. */
  resampled?: boolean;
}

/** A candidate before NMS, box in model-input pixels. */
export interface Candidate {
  cls: number;
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}
