import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { component, createLogger, logFormat } from './log.ts';

function sink(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

/** Keys of the top-level object of one JSON line, in order, duplicates kept. */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && line[j + 1] === ':') keys.push(JSON.parse(line.slice(i, j + 1)));
      i = j;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return keys;
}

describe('logging', () => {
  it('JSON lines: nested components give one dotted path, every key once', () => {
    const out = sink();
    const root = createLogger({ format: 'json', level: 'info', destination: out.stream });
    const edge = component(root, 'edge', { site: 'plaza' });
    const cam = component(edge, 'camera.plaza-1', { source: 'plaza-1' });
    cam.info({ fps: 5, site: 'plaza', source: 'other' }, 'camera online');
    const [line] = out.lines();
    const keys = topLevelKeys(line);
    expect(new Set(keys).size).toBe(keys.length);
    expect(JSON.parse(line)).toMatchObject({ c: 'edge.camera.plaza-1', site: 'plaza', source: 'plaza-1', source2: 'other', fps: 5, msg: 'camera online' });
  });

  it('a path that already starts with the parent path is kept as it is', () => {
    const out = sink();
    const cloud = component(createLogger({ format: 'json', level: 'info', destination: out.stream }), 'cloud');
    component(cloud, 'cloud.ingest').info('x');
    component(component(cloud, 'alerts'), 'webhook').info('y');
    expect(out.lines().map((l) => JSON.parse(l).c)).toEqual(['cloud.ingest', 'cloud.alerts.webhook']);
  });

  it('pretty: one readable line per event with time, level, component, message and k=v fields', () => {
    const out = sink();
    const log = component(createLogger({ format: 'pretty', level: 'info', destination: out.stream }), 'edge', { site: 's1' });
    component(log, 'uplink').warn({ depth: 3, url: 'mqtt://x', note: 'two words', err: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }, 'uplink down');
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: edge\.uplink {2}uplink down {2}site=s1 depth=3 url=mqtt:\/\/x note="two words" err="ECONNREFUSED: refused"$/);
  });

  it('format: JSON when not a terminal or LOG_FORMAT=json, pretty on a terminal', () => {
    expect(logFormat({}, false)).toBe('json');
    expect(logFormat({}, true)).toBe('pretty');
    expect(logFormat({ LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(logFormat({ LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
  });
});
