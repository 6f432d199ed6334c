/**
 * ffmpeg options per camera kind. ffmpeg decodes, samples the frame rate (fps filter) and scales;
 * frames leave as raw rgb24 on stdout. With a model input geometry (`modelInput`), the same decode
 * also makes each frame's model frame (the letterboxed image the detector needs, see
 * `modelFilter`) on a second output, fd 3, so the detector never resamples.
 *
 * The options must work from the packaged static ffmpeg 4.1 (2018, libavformat 58) up to current
 * releases: the only one that differs is the RTSP socket timeout (see `rtspTimeoutOption`); the
 * filters used (fps, scale, format, split, perspective, crop) all exist in 4.1.
 */
import { libMajor, type FfBinary } from '../../../lib/ffmpeg.ts';
import type { ModelInputSpec } from '../detector/types.ts';

export type CameraKind = 'file' | 'rtsp' | 'mjpeg';

export interface StreamSpec {
  url: string;
  kind: CameraKind;
  fps: number;
  width: number;
  /** Omit to keep the aspect ratio (even height). */
  height?: number;
  /** file: restart at the end (-stream_loop -1). */
  loop?: boolean;
  /** file: read at native speed (-re), like a live camera. */
  realtime?: boolean;
  /** Start offset in seconds (file). */
  startS?: number;
  /** Stop after this many seconds of input (file). */
  durationS?: number;
  /** Also make model frames for this input geometry (second output on fd 3), unless the frame already has the model's size. */
  modelInput?: ModelInputSpec;
}

export function inferKind(url: string): CameraKind {
  if (/^rtsps?:\/\//i.test(url)) return 'rtsp';
  if (/^https?:\/\//i.test(url)) return 'mjpeg';
  return 'file';
}

/**
 * RTSP socket I/O timeout (µs): `-timeout` since libavformat 59 (ffmpeg 5.0). Before that `-timeout`
 * was the *listen* timeout (in seconds, and it turns the client into an RTSP server waiting for a
 * connection) and the socket timeout was `-stimeout`.
 */
export function rtspTimeoutOption(ff?: FfBinary): '-timeout' | '-stimeout' {
  const major = ff ? libMajor(ff, 'libavformat') : 0;
  return major > 0 && major < 59 ? '-stimeout' : '-timeout';
}

/** Input options; `ff` is the binary that will run them (resolveFfmpeg), for version-dependent ones. */
export function inputOptions(s: StreamSpec, ff?: FfBinary): string[] {
  const o: string[] = ['-hide_banner', '-nostdin'];
  if (s.kind === 'file') {
    if (s.loop) o.push('-stream_loop', '-1');
    if (s.realtime) o.push('-re');
    if (s.startS) o.push('-ss', String(s.startS));
    if (s.durationS) o.push('-t', String(s.durationS));
  } else if (s.kind === 'rtsp') {
    // TCP interleaved: no UDP port ranges to open on the gateway; -timeout/-stimeout (µs) bounds socket I/O.
    o.push('-rtsp_transport', 'tcp', rtspTimeoutOption(ff), '5000000');
  } else {
    // HTTP multipart/x-mixed-replace (MJPEG IP cameras): the mpjpeg demuxer; -rw_timeout (µs).
    o.push('-f', 'mpjpeg', '-rw_timeout', '5000000', '-reconnect', '0');
  }
  return o;
}

/** The evidence frame: fps sampling and the configured size (bilinear), rgb24. */
function evidenceFilter(s: StreamSpec): string {
  return `fps=${s.fps},scale=${s.width}:${s.height ?? -2}:flags=bilinear`;
}

export function outputOptions(s: StreamSpec): string[] {
  return ['-an', '-sn', '-vf', evidenceFilter(s), '-pix_fmt', 'rgb24', '-f', 'rawvideo'];
}

/**
 * Whether ffmpeg makes a second, model-size output: not without a model geometry, nor when the
 * configured size already is the model's letterbox size (`width` = the model's width, e.g.
 * `width: 416`: the frame itself is the model frame, as before).
 */
export function makesModelFrames(s: StreamSpec): boolean {
  const m = s.modelInput;
  if (!m) return false;
  if (m.letterbox === 'stretch') return !(s.width === m.width && s.height === m.height);
  if (s.width !== m.width) return true;
  return s.height !== undefined && s.height > m.height;
}

/**
 * The letterbox size of a W×H frame as an ffmpeg expression, the same double arithmetic as
 * preprocess.ts `letterboxForSpec` (so both truncate alike, e.g. 1440×1080 → 415×311 for 416).
 */
export function letterboxExpr(m: ModelInputSpec, W: string, H: string): { w: string; h: string } {
  if (m.letterbox === 'stretch') return { w: String(m.width), h: String(m.height) };
  if (m.letterbox === 'top-left') {
    const r = `min(${m.height}/${H},${m.width}/${W})`;
    return { w: `trunc(${W}*${r})`, h: `trunc(${H}*${r})` };
  }
  const hw = `(${H}/${W})`;
  return { w: `if(gt(${hw},1),trunc(${m.width}/${hw}),${m.width})`, h: `if(gt(${hw},1),${m.height},trunc(${m.height}*${hw}))` };
}

/**
 * Filter chain from the rgb24 evidence frame to the model frame, matching the card's OpenCV recipe
 * (MODEL_IO.md), measured against cv2.resize on the same frames (≤ 1 grey level off):
 * - `area` (cv2.INTER_AREA, NanoDet): swscale's area filter.
 * - `bilinear` (cv2.INTER_LINEAR, YOLOX) shrinking: swscale's bilinear widens its kernel when it
 *   shrinks (an anti-aliasing tent, up to 100 grey levels off cv2 and boxes moving by IoU < 0.9), so
 *   the `perspective` filter samples instead: 2-tap bilinear at cv2's source positions
 *   (x + 0.5)·W/newW − 0.5 on planar RGB, then crop to newW×newH. It computes a full-size output
 *   canvas, so it costs ffmpeg ~10 ms a 768×576 frame and ~50 ms a 1080p one (BENCHMARKS.md).
 * - `bilinear` enlarging (a frame narrower than the model): swscale's bilinear, 2-tap like cv2 there.
 */
export function modelFilter(s: StreamSpec): string {
  const m = s.modelInput!;
  const size = (W: string, H: string) => letterboxExpr(m, W, H);
  if (m.resize === 'area') {
    const { w, h } = size('iw', 'ih');
    return `scale=w='${w}':h='${h}':flags=area`;
  }
  const shrinks = s.width >= m.width && (m.letterbox !== 'stretch' || (s.height ?? 0) >= m.height);
  if (!shrinks) {
    const { w, h } = size('iw', 'ih');
    return `scale=w='${w}':h='${h}':flags=bilinear`;
  }
  const { w, h } = size('W', 'H');
  const cx = `(W/${w}-1)/2`, cy = `(H/${h}-1)/2`;
  const x1 = `W*W/${w}+${cx}`, y2 = `H*H/${h}+${cy}`;
  const crop = size('iw', 'ih');
  return `format=gbrp,perspective=x0='${cx}':y0='${cy}':x1='${x1}':y1='${cy}':x2='${cx}':y2='${y2}':x3='${x1}':y3='${y2}':interpolation=linear:sense=source,crop=w='${crop.w}':h='${crop.h}':x=0:y=0,format=rgb24`;
}

/**
 * Output arguments including the targets: the evidence frames on pipe:1 and, when
 * `makesModelFrames`, each frame's model frame on pipe:3 (one decode, split after scaling).
 */
export function outputArgs(s: StreamSpec): string[] {
  if (!makesModelFrames(s)) return [...outputOptions(s), 'pipe:1'];
  const graph = `[0:v]${evidenceFilter(s)},format=rgb24,split=2[ev][mi];[mi]${modelFilter(s)}[mo]`;
  return [
    '-filter_complex', graph,
    '-map', '[ev]', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1',
    '-map', '[mo]', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:3',
  ];
}

/** "Stream #0:0: Video: rawvideo (RGB[24] ...), rgb24(...), 416x312, ..." in the Output #0 section. */
export function parseOutputSize(line: string): { width: number; height: number } | undefined {
  const m = /Video: rawvideo.*?, (\d{2,5})x(\d{2,5})/.exec(line);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
}
