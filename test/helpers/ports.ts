import net from 'node:net';

/** A TCP port free on 127.0.0.1 now, for a server a test starts in another process (pgbouncer, redis-server). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
