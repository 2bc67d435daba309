import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostAgent } from '../backends/agent.ts';
import { httpsAgentLink } from '../backends/https-link.ts';
import { LocalNodeExecutor } from '../backends/local/node-executor.ts';
import type { NodeExecutor } from '../backends/port.ts';
import { SimulatedNodeExecutor } from '../backends/simulated/node-executor.ts';
import type { Config } from '../config/config.ts';
import { regionStoresFor } from '../main.ts';
import { agentTokenFor } from '../pools-runtime.ts';

export interface AgentFlags {
  server: string;
  hostId: string;
  token?: string;
  ca?: string;
  backend?: string;
}

/**
 * `lazurite agent`: a host agent that runs nodes on this machine for a server elsewhere, over HTTPS. The local
 * backend reads image content from the data dir's region stores (shared storage with the server); the
 * simulated backend needs none.
 */
export async function runAgent(config: Config, flags: AgentFlags): Promise<void> {
  const token = flags.token ?? agentTokenFor(config.dataDir);
  const ca = readFileSync(flags.ca ?? join(config.dataDir, 'tls', 'ca.pem'), 'utf8');
  const kind = flags.backend ?? config.nodeBackend;
  const executor: NodeExecutor =
    kind === 'simulated'
      ? new SimulatedNodeExecutor({ delays: config.simulatedDelays })
      : new LocalNodeExecutor({
          dataDir: config.dataDir,
          regions: regionStoresFor(config),
          nodeDiskMB: config.nodeDiskMB,
        });
  const agent = new HostAgent({
    hostId: flags.hostId,
    executor,
    link: httpsAgentLink(flags.server, token, ca),
    concurrency: kind === 'simulated' ? 256 : 4,
    pollMs: 500,
    onError: (err) => process.stderr.write(`agent: ${String(err)}\n`),
  });
  agent.start();
  process.stdout.write(`host agent '${flags.hostId}' (${kind}) syncing with ${flags.server}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      void agent
        .stop()
        .then(() => executor.close())
        .then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
