import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { MosquittoPeer } from '../../test/peers/mosquitto.ts';
import { waitFor } from '../../test/peers/ports.ts';
import { alertItem, ingestAlerts, startCloudWithAlerts } from '../../test/support/alerts.ts';

const cleanup: Array<() => unknown> = [];
afterAll(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

describe('alert notifications on an MQTT topic (real mosquitto)', () => {
  it('publishes lifecycle events to ce/v1/_cloud/alerts; queued while the broker is down, delivered when it is back', async () => {
    const broker = new MosquittoPeer({ persistence: false });
    await broker.start();
    cleanup.push(() => broker.stop());
    const port = broker.port;
    await broker.stop(); // down when the alert is raised

    const { cloud, feature } = await startCloudWithAlerts({ escalation: false, mqtt: { url: `mqtt://127.0.0.1:${port}` }, retry: { initialMs: 50, maxMs: 200, pollMs: 20 } });
    cleanup.push(() => cloud.stop());
    await ingestAlerts(cloud, 'site-a', [alertItem({ rule: 'nox', source: 'P7/FQ01/NOx', state: 'raise' })]);
    await waitFor(() => feature.notifier.rows()[0]?.attempts >= 2, { what: 'failed MQTT attempts', timeoutMs: 5000 });
    expect(feature.notifier.rows()[0]).toMatchObject({ target: 'mqtt', state: 'pending' });

    await broker.start();
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'duty-console', clean: true });
    cleanup.push(() => sub.endAsync(true));
    const got: Array<{ event: string; alert: { rule: string; state: string } }> = [];
    sub.on('message', (_t, p) => got.push(JSON.parse(p.toString())));
    await sub.subscribeAsync('ce/v1/_cloud/alerts', { qos: 1 });
    await waitFor(() => got.length === 1, { what: 'raised on the topic', timeoutMs: 10_000 });
    expect(got[0]).toMatchObject({ event: 'raised', alert: { rule: 'nox', state: 'open' } });

    await ingestAlerts(cloud, 'site-a', [alertItem({ rule: 'nox', source: 'P7/FQ01/NOx', state: 'clear' })]);
    await waitFor(() => got.length === 2, { what: 'resolved on the topic', timeoutMs: 5000 });
    expect(got[1]).toMatchObject({ event: 'resolved', alert: { state: 'resolved', resolution: { how: 'data' } } });
    expect(feature.notifier.rows().map((r) => r.state)).toEqual(['delivered', 'delivered']);
  });
});
