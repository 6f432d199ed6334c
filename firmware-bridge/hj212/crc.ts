// Moved to lib/hj212/crc.ts so the cloud (upstream forwarding) and the bridge share one codec; re-exported here unchanged.
export * from '../../lib/hj212/crc.ts';
