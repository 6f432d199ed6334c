/**
 * `cityedge detect --model <card> <image> [--out annotated.jpg] [--threads n] [--self-test]`
 * Runs a model card on an image (ops check of a model on a site's own frames) and prints the
 * detections as JSON: class, score, box [x1,y1,x2,y2] in original pixels.
 */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('detect')
    .description('run a detection model (model card) on an image and print the detections as JSON')
    .argument('[image]', 'image file (JPEG/PNG/WebP)')
    .requiredOption('-m, --model <card>', 'model card name (models/cards/<name>.json) or path to a card file')
    .option('-o, --out <file>', 'write the annotated image (JPEG) here')
    .option('-t, --threads <n>', 'onnxruntime intra-op threads', '1')
    .option('-s, --score <th>', 'override the card score threshold')
    .option('--self-test', "run the card's golden self-test instead of an image")
    .action(async (image: string | undefined, opts: { model: string; out?: string; threads: string; score?: string; selfTest?: boolean }) => {
      const { CodedError } = await import('../../lib/errors.ts');
      const { Detector } = await import('../../edge/vision/detector/detector.ts');
      const { readImageRgb } = await import('../../edge/vision/detector/image.ts');
      const det = await Detector.load(opts.model, { threads: Number(opts.threads), scoreThreshold: opts.score ? Number(opts.score) : undefined });
      try {
        if (opts.selfTest) {
          const { runSelfTest } = await import('../../edge/vision/detector/self-test.ts');
          const rep = await runSelfTest(det.card, (f) => det.detect(f));
          console.log(JSON.stringify({ ok: rep.ok, card: rep.card, image: rep.image, matches: rep.matches, inferMs: round(rep.inferMs) }, null, 2));
          if (!rep.ok) process.exitCode = 1;
          return;
        }
        if (!image) throw new CodedError('CLI_USAGE', 'detect: give an image file, or --self-test');
        const frame = await readImageRgb(image);
        const { detections, timings } = await det.detect(frame);
        const out = {
          model: det.card.name,
          image,
          width: frame.width,
          height: frame.height,
          timings: { preMs: round(timings.preMs), inferMs: round(timings.inferMs), postMs: round(timings.postMs) },
          detections: detections.map((d) => ({ class: d.label, classId: d.cls, score: round(d.score, 3), box: d.box.map((v) => round(v, 1)) })),
        };
        if (opts.out) {
          const fs = await import('node:fs');
          const { makeSnapshot } = await import('../../edge/vision/snapshot/snapshot.ts');
          const snap = await makeSnapshot(frame, detections.map((d) => ({ box: d.box, label: `${d.label} ${d.score.toFixed(2)}` })), { maxBytes: 1_000_000, quality: 90 });
          fs.writeFileSync(opts.out, snap.frame);
        }
        console.log(JSON.stringify(out, null, 2));
      } finally {
        await det.close();
      }
    });
}

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
