/**
 * ffmpeg arguments for a "quiet street" clip: one frame of a video (at `atS`), repeated for
 * `seconds` at 5 fps, MPEG-4 with one key frame (tiny, and cheap to decode). The frame is decoded
 * once and repeated by the loop filter (≈ 1 s to make 30 s). Used by the motion tests and
 * bench/cameras.ts; append the output path.
 */
export function stillClipArgs(video: string, seconds: number, atS = 12): string[] {
  const frames = Math.round(seconds * 5);
  return [
    '-ss', String(atS), '-i', video, '-an',
    '-vf', 'trim=end_frame=1,loop=loop=-1:size=1:start=0,setpts=N/5/TB', '-r', '5', '-frames:v', String(frames),
    '-c:v', 'mpeg4', '-q:v', '5', '-g', '1000', '-motion_est', 'zero', '-pix_fmt', 'yuv420p',
  ];
}
