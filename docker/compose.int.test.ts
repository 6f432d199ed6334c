import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateEdgeConfig } from '../edge/config.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('docker files', () => {
  it('compose.yaml parses with docker-compose and has InfluxDB, the cloud and two edge sites', () => {
    const out = execFileSync('docker-compose', ['-f', path.join(here, 'compose.yaml'), 'config'], { encoding: 'utf8', env: { ...process.env, SITE_NORTH_PASSWORD: 'x', SITE_SOUTH_PASSWORD: 'y' } });
    const doc = YAML.parse(out);
    expect(Object.keys(doc.services).sort()).toEqual(['cloud', 'edge-north', 'edge-south', 'grafana', 'influxdb']);
    expect(doc.services.cloud.environment.INFLUX_URL).toBe('http://influxdb:8086');
  });

  it('the edge configs the compose file mounts are valid edge configs', async () => {
    for (const f of ['edge-north.yaml', 'edge-south.yaml']) {
      const raw = YAML.parse(fs.readFileSync(path.join(here, f), 'utf8'));
      const { config } = await validateEdgeConfig(raw, f);
      expect(config.sources).toHaveLength(1);
    }
  });

  it('images run as a non-root user on Node 22, and the edge image has ffmpeg', () => {
    for (const f of ['Dockerfile.cloud', 'Dockerfile.edge']) {
      const text = fs.readFileSync(path.join(here, f), 'utf8');
      expect(text).toMatch(/^FROM node:22/m);
      expect(text).toMatch(/^USER cityedge$/m);
    }
    expect(fs.readFileSync(path.join(here, 'Dockerfile.edge'), 'utf8')).toMatch(/apt-get install[^\n]*ffmpeg/);
  });

  it('images install the packed npm package (the tarball the package test runs) and start its bin', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(here, '..', 'package.json'), 'utf8'));
    for (const f of ['Dockerfile.cloud', 'Dockerfile.edge']) {
      const text = fs.readFileSync(path.join(here, f), 'utf8');
      expect(text).toMatch(/npm ci && npm pack/);
      expect(text).toMatch(new RegExp(`npm install --omit=dev[^\\n]*/pkg/${pkg.name}-\\*\\.tgz`));
      expect(text).toMatch(/^ENTRYPOINT \["cityedge", /m);
      // every file a COPY names from the build context exists (a moved folder breaks the image)
      for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of m[1].split(/\s+/)) expect(fs.existsSync(path.join(here, '..', src)), `${f}: COPY ${src}`).toBe(true);
    }
    expect(Object.keys(pkg.bin)).toContain('cityedge');
    // the build step the image runs is the one npm test runs (prepare → build)
    expect(pkg.scripts.prepare).toMatch(/build/);
  });
});
