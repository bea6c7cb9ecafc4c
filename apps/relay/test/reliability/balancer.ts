import net from 'node:net';

/**
 * A TCP load balancer in front of several relay instances, as a team's proxy would be: each
 * connection goes to the next backend in turn, and a backend that refuses (a killed instance) is
 * skipped. It is the relays' public address, so the provider fetches inputs through it whichever
 * instance signed the link.
 */
export interface Balancer {
  url: string;
  /** Backends connections went to, in order (`host:port`). */
  routed: string[];
  add(backendUrl: string): void;
  close(): Promise<void>;
}

export async function createBalancer(): Promise<Balancer> {
  const backends: { host: string; port: number }[] = [];
  const sockets = new Set<net.Socket>();
  const routed: string[] = [];
  let next = 0;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    client.pause();
    const tryBackend = (left: number) => {
      if (left === 0 || backends.length === 0) {
        client.destroy();
        return;
      }
      const target = backends[next++ % backends.length] as { host: string; port: number };
      const upstream = net.connect(target.port, target.host);
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      // Refused before connecting: the instance is gone, the next one gets the connection.
      upstream.once('error', () => {
        upstream.destroy();
        tryBackend(left - 1);
      });
      upstream.once('connect', () => {
        routed.push(`${target.host}:${target.port}`);
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryBackend(8);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    routed,
    add(backendUrl) {
      const u = new URL(backendUrl);
      backends.push({ host: u.hostname, port: Number(u.port) });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
