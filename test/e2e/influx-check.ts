import type { InfluxPeer } from '../peers/influx.ts';

/** Count, sum and a spot check of the synthetic readings in InfluxDB. */
export async function syntheticInInflux(influx: InfluxPeer, db: string, measurement = 'synthetic'): Promise<{ count: number; sum: number }> {
  const r = await influx.query(`SELECT count("value") AS c, sum("value") AS s FROM "${measurement}"`, db);
  const v = r.results?.[0]?.series?.[0]?.values?.[0];
  return { count: v ? v[1] : 0, sum: v ? v[2] : 0 };
}

export async function valueAt(influx: InfluxPeer, db: string, time: number, measurement = 'synthetic'): Promise<unknown[][] | undefined> {
  const r = await influx.query(`SELECT "value", "site", "received_ms" FROM "${measurement}" WHERE time = ${time}ms`, db);
  return r.results?.[0]?.series?.[0]?.values;
}

export const sumTo = (n: number) => (n * (n - 1)) / 2;
