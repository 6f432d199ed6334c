import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends a run with one plain line, `<project>: N passed, N failed[, N skipped]`, which CI and
 * people can read without knowing vitest's own summary format. Before it, the slowest files
 * (collect + tests + hooks), so that whoever keeps `npm test` within its budget sees where the
 * minutes go without digging through the log.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const projects = new Set<string>();
    for (const m of modules) {
      projects.add(m.project.name || 'tests');
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (m.state() === 'failed' && ![...m.children.allTests()].some((t) => t.result().state === 'failed')) failed++; // a file that failed to load
    }
    const label = [...projects].join('+') || 'tests';
    const timed = modules.map((m) => { const d = m.diagnostic(); return { file: m.moduleId, s: (d.collectDuration + d.duration) / 1000 }; })
      .sort((a, b) => b.s - a.s);
    const total = timed.reduce((a, t) => a + t.s, 0);
    if (timed.length > 1) {
      process.stdout.write(`\n${label}: slowest files of ${timed.length} (${total.toFixed(0)} s in all)\n`);
      for (const t of timed.slice(0, 12)) process.stdout.write(`  ${t.s.toFixed(1).padStart(7)} s  ${t.file.replace(`${process.cwd()}/`, '')}\n`);
    }
    process.stdout.write(`\n${label}: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
