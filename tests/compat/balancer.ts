import { createServer, connect, type AddressInfo, type Server } from 'node:net';

/**
 * A TCP load balancer in front of several servers (TLS passes through): forwards each new connection to whichever
 * target port is set, as a balancer does after a health check moves it.
 */
export function balancer(): { server: Server; port: () => number; target: { port: number } } {
  const target = { port: 0 };
  const server = createServer((client) => {
    const upstream = connect(target.port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
  });
  return { server, port: () => (server.address() as AddressInfo).port, target };
}
