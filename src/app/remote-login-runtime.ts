import { join } from 'node:path';
import { RemoteLoginGateway } from '../api/ssh/remote-login.ts';
import { LocalNodeExecutor } from '../backends/local/node-executor.ts';
import { spawnLogin, writeNodeUsers } from '../backends/local/node-logins.ts';
import type { NodeExecutor } from '../backends/port.ts';
import type { Config } from '../config/config.ts';
import type { DomainContext } from '../domain/context.ts';
import { NodeUserService, type NodeUserSync } from '../domain/pools/node-users.ts';
import type { Logger } from '../platform/logger.ts';
import { FailureThrottle } from '../platform/throttle.ts';
import type { NodeRecord } from '../storage/records.ts';

/** The address clients are given for a listener on `host` (a wildcard listens everywhere: loopback answers). */
function publicAddressOf(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}

/**
 * Node users and remote login (ADR 0027): the users service (every backend), and for the in-process local backend
 * the writing of users into nodes and the SSH gateway into them.
 */
export function remoteLoginRuntime(
  config: Config,
  ctx: DomainContext,
  local: { executor: NodeExecutor; hostId: string } | undefined,
  logger: Logger,
): { deps: { nodeUsers: NodeUserService; remoteLogin?: RemoteLoginGateway }; stop(): Promise<void> } {
  const executor = local?.executor instanceof LocalNodeExecutor ? local.executor : undefined;
  const write: NodeUserSync | undefined =
    executor === undefined
      ? undefined
      : async (node: NodeRecord) => {
          await writeNodeUsers(executor, node.id, node.users ?? [], ctx.clock.now()).catch((err: unknown) => {
            logger.warn({ err: (err as Error).message, nodeId: node.id }, 'node users not written');
          });
        };
  const nodeUsers = new NodeUserService(ctx, (hostId) => (hostId === local?.hostId ? write : undefined));
  if (executor === undefined || write === undefined)
    return { deps: { nodeUsers }, stop: () => Promise.resolve() };
  const remoteLogin = new RemoteLoginGateway({
    users: nodeUsers,
    host: {
      runsHere: (node) => node.hostId === local?.hostId,
      place: async (node) => {
        const place = node.hostId === local?.hostId ? await executor.loginPlace(node.id) : undefined;
        return place && { spawn: (session) => spawnLogin(place, session) };
      },
      writeUsers: write,
    },
    listenHost: config.host,
    publicAddress: publicAddressOf(config.host),
    defaultPorts: config.remoteLoginPorts,
    hostKeyPath: join(config.dataDir, 'identity', 'ssh-host-key'),
    logger,
    throttle: new FailureThrottle({
      ...config.authFailures,
      maxKeys: 100_000,
      now: () => ctx.clock.now().getTime(),
    }),
  });
  const sweep = setInterval(() => void remoteLogin.sweep().catch(() => undefined), 10_000);
  sweep.unref();
  return {
    deps: { nodeUsers, remoteLogin },
    stop: async () => {
      clearInterval(sweep);
      await remoteLogin.close();
    },
  };
}
