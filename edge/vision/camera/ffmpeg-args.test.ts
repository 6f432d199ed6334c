import { describe, expect, it } from 'vitest';
import type { FfBinary } from '../../../lib/ffmpeg.ts';
import { inputOptions, outputOptions, parseOutputSize, rtspTimeoutOption } from './ffmpeg-args.ts';

const bin = (lavf: number): FfBinary => ({ tool: 'ffmpeg', path: '/x/ffmpeg', from: 'system', version: 'v', libs: { libavformat: [lavf, 0, 100] } });

describe('ffmpeg arguments across ffmpeg versions', () => {
  it('RTSP socket timeout: -stimeout before libavformat 59 (the packaged 4.1: -timeout there means listen), -timeout after', () => {
    expect(rtspTimeoutOption(bin(58))).toBe('-stimeout'); // ffmpeg 4.x
    expect(rtspTimeoutOption(bin(59))).toBe('-timeout'); // 5.x
    expect(rtspTimeoutOption(bin(61))).toBe('-timeout'); // 7.x
    expect(rtspTimeoutOption()).toBe('-timeout');
    const spec = { url: 'rtsp://cam/1', kind: 'rtsp' as const, fps: 5, width: 320 };
    expect(inputOptions(spec, bin(58))).toEqual(['-hide_banner', '-nostdin', '-rtsp_transport', 'tcp', '-stimeout', '5000000']);
    expect(inputOptions(spec, bin(59))).toEqual(['-hide_banner', '-nostdin', '-rtsp_transport', 'tcp', '-timeout', '5000000']);
  });

  it('file and MJPEG options, output options and the size line are the same for 4.1 and 5.x', () => {
    expect(inputOptions({ url: 'a.avi', kind: 'file', fps: 5, width: 320, loop: true, realtime: true, startS: 2, durationS: 3 }, bin(58)))
      .toEqual(['-hide_banner', '-nostdin', '-stream_loop', '-1', '-re', '-ss', '2', '-t', '3']);
    expect(inputOptions({ url: 'http://c/v.mjpg', kind: 'mjpeg', fps: 5, width: 320 }, bin(58))).toEqual(['-hide_banner', '-nostdin', '-f', 'mpjpeg', '-rw_timeout', '5000000', '-reconnect', '0']);
    expect(outputOptions({ url: 'a.avi', kind: 'file', fps: 5, width: 416 })).toEqual(['-an', '-sn', '-vf', 'fps=5,scale=416:-2:flags=bilinear', '-pix_fmt', 'rgb24', '-f', 'rawvideo']);
    // 4.1 (static build) and 5.1 (Debian) stderr lines of the output stream
    expect(parseOutputSize('    Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 416x312, q=2-31, 15575 kb/s, 5 fps, 5 tbn, 5 tbc')).toEqual({ width: 416, height: 312 });
    expect(parseOutputSize('  Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, gbr/unknown/unknown, progressive), 384x288, q=2-31, 13271 kb/s, 5 fps, 5 tbn')).toEqual({ width: 384, height: 288 });
  });
});
