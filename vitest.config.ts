import { defineConfig } from 'vitest/config';

// Unit tests: *.test.ts. Integration tests (real peers): *.int.test.ts.
// Integration files run one at a time: they start real InfluxDB / mosquitto / ONNX
// sessions, and this project is sized for 2-core machines.
export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          exclude: ['node_modules/**'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
