import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostAgent } from '../backends/agent.ts';
import { httpsAgentLink } from '../backends/https-link.ts';
import { httpsBlobFetch, ImagePuller } from '../backends/image-pull.ts';
import type { RegionStores } from '../content/regions.ts';
import { LocalNodeExecutor } from '../backends/local/node-executor.ts';
import type { NodeExecutor, NodeImage } from '../backends/port.ts';
import { SimulatedNodeExecutor } from '../backends/simulated/node-executor.ts';
import type { Config } from '../config/config.ts';
import { regionStoresFor } from '../app/main.ts';
import { agentTokenFor, hostContainerImages } from '../app/pools-runtime.ts';

export interface AgentFlags {
  server: string;
  hostId: string;
  token?: string;
  ca?: string;
  backend?: string;
  /** Run only this node (the agent of one cluster-scheduler allocation, ADR 0030). */
  onlyNode?: string;
  /** Pull images from the server over HTTPS into this data dir's own content stores (no shared file system). */
  pullImages?: boolean;
}

/** The local executor over this host's own stores, filled from the server before each hydrate. */
class PullingNodeExecutor extends LocalNodeExecutor {
  private readonly puller: ImagePuller;
  constructor(dataDir: string, regions: RegionStores, puller: ImagePuller, nodeDiskMB: number | undefined) {
    super({ dataDir, regions, ...(nodeDiskMB === undefined ? {} : { nodeDiskMB }) });
    this.puller = puller;
  }
  override async hydrate(image: NodeImage): Promise<void> {
    await this.puller.pull(image);
    await super.hydrate(image);
  }
}

/**
 * `lazurite agent`: a host agent that runs nodes on this machine for a server elsewhere, over HTTPS. The local
 * backend reads image content from the data dir's region stores (shared storage with the server); the
 * simulated backend needs none.
 */
export async function runAgent(config: Config, flags: AgentFlags): Promise<void> {
  // A Slurm job gets the token and CA in its environment (config.agentToken/agentCa), never on argv.
  const token = flags.token ?? config.agentToken ?? agentTokenFor(config.dataDir);
  const ca =
    (flags.ca === undefined ? config.agentCa : undefined) ??
    readFileSync(flags.ca ?? join(config.dataDir, 'tls', 'ca.pem'), 'utf8');
  const kind = flags.backend ?? config.nodeBackend;
  const regions = regionStoresFor(config);
  const executor: NodeExecutor =
    kind === 'simulated'
      ? new SimulatedNodeExecutor({ delays: config.simulatedDelays })
      : flags.pullImages === true
        ? new PullingNodeExecutor(
            config.dataDir,
            regions,
            new ImagePuller(httpsBlobFetch(flags.server, token, ca), regions),
            config.nodeDiskMB,
          )
        : new LocalNodeExecutor({ dataDir: config.dataDir, regions, nodeDiskMB: config.nodeDiskMB });
  const agent = new HostAgent({
    hostId: flags.hostId,
    executor,
    link: httpsAgentLink(flags.server, token, ca),
    concurrency: kind === 'simulated' ? 256 : 4,
    pollMs: 500,
    onError: (err) => process.stderr.write(`agent: ${String(err)}\n`),
    ...(flags.onlyNode === undefined ? {} : { onlyNode: flags.onlyNode }),
    containers: hostContainerImages(config, regions),
  });
  agent.start();
  process.stdout.write(`host agent '${flags.hostId}' (${kind}) syncing with ${flags.server}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      // One node's agent removes its node and leaves the host's shared parts (bridge, caches) to the others.
      const only = flags.onlyNode;
      void agent
        .stop()
        .then(() => (only === undefined ? executor.close() : executor.destroy(only)))
        .catch((err: unknown) => {
          process.stderr.write(`agent: ${String(err)}\n`);
        })
        .then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
