import fs from 'node:fs';
import type { Command } from 'commander';

/**
 * `cityedge aqi [file]` — CSV (header `time,PM2.5[ug/m3;24h],CO[mg/m3;1h],…`) or JSON
 * lines from a file or stdin; prints one JSON object per row: {row, time, standard,
 * aqi, level, category, categoryZh, primary, exceeding, iaqi: {"PM2.5/24h": n, …}}
 * or {row, error: {code, message}}. Exit 1 if any row was bad.
 */
export function register(program: Command): void {
  program.command('aqi')
    .description('air quality index (HJ 633-2012/2026, or US EPA) per row of a CSV or JSON-lines input')
    .argument('[file]', 'input file (default: stdin)')
    .option('-s, --standard <id>', 'auto (revision in force at each row time), HJ633-2012, HJ633-2026, US-EPA-2024', 'auto')
    .option('--details', 'print the full IAQI entries (value, unit, notes) instead of a compact map')
    .action(async (file: string | undefined, opts: { standard: string; details?: boolean }) => {
      const { evaluateText } = await import('../../edge/env/aqi/input.ts');
      let text: string;
      if (file) text = fs.readFileSync(file, 'utf8');
      else {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        text = Buffer.concat(chunks).toString('utf8');
      }
      let bad = 0;
      for (const r of evaluateText(text, opts.standard as never)) {
        if (r.error || !r.result) { bad++; process.stdout.write(`${JSON.stringify({ row: r.row, ...(r.time ? { time: r.time } : {}), error: r.error })}\n`); continue; }
        const { iaqi, ...rest } = r.result;
        const out = { row: r.row, ...(r.time ? { time: r.time } : {}), ...rest, iaqi: opts.details ? iaqi : Object.fromEntries(iaqi.map((e) => [`${e.pollutant}/${e.averaging}`, e.iaqi])) };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      }
      process.exitCode = bad ? 1 : 0;
    });
}
