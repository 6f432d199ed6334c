import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/peers/ports.ts';
import { openCloudDb } from '../db.ts';
import { DeviceRegistry } from './registry.ts';

describe('device registry', () => {
  it('refuses site ids reserved for the cloud (cityedge-*: the ingest users of the shipped mosquitto ACL)', async () => {
    const reg = new DeviceRegistry(openCloudDb(path.join(tempDir('devices-'), 'cloud.db')));
    for (const site of ['cityedge-ingest', 'cityedge-ingest-1', 'cityedge']) {
      await expect(reg.add(site, 'long-enough-password-1')).rejects.toMatchObject({ code: 'DEVICE_RESERVED_SITE' });
    }
    expect(reg.list()).toEqual([]);
    await reg.add('street-north', 'long-enough-password-1');
    expect(await reg.verify('street-north', 'long-enough-password-1')).toBe(true);
  });
});
