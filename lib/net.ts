import net from 'node:net';

/** `port` on loopback if it is free, else (or for 0) a free one the OS picks. */
export async function freePort(port = 0): Promise<number> {
  const tryListen = (p: number) => new Promise<number | undefined>((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(undefined));
    s.listen(p, '127.0.0.1', () => { const got = (s.address() as net.AddressInfo).port; s.close(() => resolve(got)); });
  });
  return (await tryListen(port)) ?? (await tryListen(0))!;
}
