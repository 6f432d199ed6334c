import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/peers/ports.ts';
import { parseBytes } from '../lib/config.ts';
import { loadEdgeConfig, validateEdgeConfig } from './config.ts';

const base = { site: 'site-a', mqtt: { url: 'mqtt://127.0.0.1:1883' } };

describe('edge config', () => {
  it('applies defaults and validates each source against its own schema', async () => {
    const { config } = await validateEdgeConfig({ ...base, sources: [{ type: 'synthetic', id: 'g', count: 5 }] }, 'x.yaml');
    expect(config.outbox.cap).toBe('1GiB');
    expect(config.uplink.maxInflight).toBe(16);
    expect((config.sources[0] as Record<string, unknown>).ratePerSec).toBe(1000);
  });

  it('names the file, the path and what was expected', async () => {
    await expect(validateEdgeConfig({ ...base, mqtt: { url: 'x', pasword: 'typo' } }, 'site.yaml')).rejects.toThrow(/site\.yaml: invalid configuration:[\s\S]*\/mqtt/);
    await expect(validateEdgeConfig({ ...base, site: 'Site A' }, 'site.yaml')).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/\/site/) });
    await expect(validateEdgeConfig({ ...base, sources: [{ type: 'nope', id: 'a' }] }, 'site.yaml')).rejects.toThrow(/\/sources\/0\/type: unknown source type "nope"/);
    await expect(validateEdgeConfig({ ...base, sources: [{ type: 'synthetic', id: 'a', count: 1 }, { type: 'synthetic', id: 'a', count: 1 }] }, 'site.yaml')).rejects.toThrow(/duplicate source id/);
    await expect(validateEdgeConfig({ ...base, sources: [{ type: 'synthetic', id: 'a', count: -1 }] }, 'site.yaml')).rejects.toThrow(/\/sources\/0[\s\S]*\/count/);
    await expect(validateEdgeConfig({ ...base, outbox: { cap: 'lots' } }, 'site.yaml')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('mqtt.url: one address or a list of a cluster\'s addresses; a bad address is refused with where and how to write it', async () => {
    const { config } = await validateEdgeConfig({ ...base, mqtt: { url: ['mqtt://10.0.0.1:1883', 'mqtts://broker-2.example:8883'] } }, 'x.yaml');
    expect(config.mqtt.url).toEqual(['mqtt://10.0.0.1:1883', 'mqtts://broker-2.example:8883']);
    await expect(validateEdgeConfig({ ...base, mqtt: { url: '127.0.0.1:1883' } }, 'site.yaml')).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/site\.yaml: \/mqtt\/url: "127\.0\.0\.1:1883" is not a URL[\s\S]*mqtt:\/\/host:1883/) });
    await expect(validateEdgeConfig({ ...base, mqtt: { url: ['mqtt://a:1883', 'http://b'] } }, 'site.yaml')).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('/mqtt/url/1') });
    await expect(validateEdgeConfig({ ...base, mqtt: { url: ['mqtt://a:1883', 'mqtt://a:1883'] } }, 'site.yaml')).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('twice') });
    await expect(validateEdgeConfig({ ...base, mqtt: { url: [] } }, 'site.yaml')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(validateEdgeConfig({ ...base, mqtt: { url: 'not a url' } }, 'site.yaml')).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('is not a URL') });
  });

  it('loads YAML with ${ENV} secrets and reports unreadable or broken files with codes', async () => {
    const dir = tempDir('cfg-');
    const f = path.join(dir, 'edge.yaml');
    fs.writeFileSync(f, 'site: site-b\nmqtt:\n  url: mqtt://127.0.0.1:1\n  password: ${SITE_B_PW}\n');
    process.env.SITE_B_PW = 'from-the-environment';
    const { config } = await loadEdgeConfig(f);
    expect(config.mqtt.password).toBe('from-the-environment');
    expect(config.__dir).toBe(dir);
    await expect(loadEdgeConfig(path.join(dir, 'missing.yaml'))).rejects.toMatchObject({ code: 'CONFIG_NOT_FOUND' });
    fs.writeFileSync(f, 'site: [unclosed');
    await expect(loadEdgeConfig(f)).rejects.toMatchObject({ code: 'CONFIG_PARSE' });
  });

  it('parses sizes', () => {
    expect(parseBytes('512MiB')).toBe(512 * 1024 * 1024);
    expect(parseBytes('2GB')).toBe(2e9);
    expect(parseBytes(4096)).toBe(4096);
  });
});
