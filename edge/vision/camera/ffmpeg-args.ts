/**
 * ffmpeg options per camera kind. ffmpeg decodes, samples the frame rate (fps filter) and scales;
 * frames leave as raw rgb24 on stdout.
 *
 * The options must work from the packaged static ffmpeg 4.1 (2018, libavformat 58) up to current
 * releases: the only one that differs is the RTSP socket timeout (see `rtspTimeoutOption`).
 */
import { libMajor, type FfBinary } from '../../../lib/ffmpeg.ts';

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

export function outputOptions(s: StreamSpec): string[] {
  const h = s.height ?? -2;
  return ['-an', '-sn', '-vf', `fps=${s.fps},scale=${s.width}:${h}:flags=bilinear`, '-pix_fmt', 'rgb24', '-f', 'rawvideo'];
}

/** "Stream #0:0: Video: rawvideo (RGB[24] ...), rgb24(...), 416x312, ..." in the Output #0 section. */
export function parseOutputSize(line: string): { width: number; height: number } | undefined {
  const m = /Video: rawvideo.*?, (\d{2,5})x(\d{2,5})/.exec(line);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
}
