import { describe, expect, it } from 'vitest';
import type { FfBinary } from '../../../lib/ffmpeg.ts';
import { inputOptions, letterboxExpr, makesModelFrames, outputArgs, outputOptions, parseOutputSize, rtspTimeoutOption } from './ffmpeg-args.ts';
import type { ModelInputSpec } from '../detector/types.ts';

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

  it('model frames: a second output on fd 3 from the same decode, unless the frame already is the model size', () => {
    const yolox: ModelInputSpec = { width: 416, height: 416, letterbox: 'top-left', resize: 'bilinear' };
    const nanodet: ModelInputSpec = { width: 320, height: 320, letterbox: 'center', resize: 'area' };
    const spec = { url: 'a.avi', kind: 'file' as const, fps: 5, width: 768 };
    expect(makesModelFrames(spec)).toBe(false);
    expect(outputArgs(spec)).toEqual([...outputOptions(spec), 'pipe:1']);
    expect(makesModelFrames({ ...spec, width: 416, modelInput: yolox })).toBe(false); // width: 416 is the model frame
    expect(makesModelFrames({ ...spec, width: 416, height: 500, modelInput: yolox })).toBe(true);
    expect(makesModelFrames({ ...spec, modelInput: yolox })).toBe(true);
    const a = outputArgs({ ...spec, modelInput: yolox });
    const graph = a[a.indexOf('-filter_complex') + 1];
    expect(graph.startsWith('[0:v]fps=5,scale=768:-2:flags=bilinear,format=rgb24,split=2[ev][mi];[mi]format=gbrp,perspective=')).toBe(true);
    expect(graph).toContain(`crop=w='trunc(iw*min(416/ih,416/iw))':h='trunc(ih*min(416/ih,416/iw))':x=0:y=0,format=rgb24[mo]`);
    expect(a.slice(a.indexOf('-map'))).toEqual(['-map', '[ev]', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1', '-map', '[mo]', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:3']);
    // NanoDet (INTER_AREA): swscale's area filter; a frame narrower than YOLOX's input: swscale bilinear (2-tap when enlarging)
    expect(outputArgs({ ...spec, modelInput: nanodet }).join(' ')).toContain(`[mi]scale=w='if(gt((ih/iw),1),trunc(320/(ih/iw)),320)':h='if(gt((ih/iw),1),320,trunc(320*(ih/iw)))':flags=area[mo]`);
    expect(outputArgs({ ...spec, width: 320, modelInput: yolox }).join(' ')).toContain(`[mi]scale=w='trunc(iw*min(416/ih,416/iw))':h='trunc(ih*min(416/ih,416/iw))':flags=bilinear[mo]`);
    expect(letterboxExpr({ ...yolox, letterbox: 'stretch' }, 'iw', 'ih')).toEqual({ w: '416', h: '416' });
  });
});
