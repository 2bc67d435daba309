import type { Command } from 'commander';
import { clusterDown, clusterUp, killHost, type ClusterInfo } from '../backends/slurm/cluster.ts';
import { parseCount } from './plan.ts';

function formatInfo(info: ClusterInfo): string {
  const hosts = info.hosts.map((h) => `  ${h.name} ${h.address}`).join('\n');
  return `Slurm cluster up, ${String(info.hosts.length)} hosts:\n${hosts}\nstart a server on it: npm start -- ${info.serverArgs.join(' ')}\n`;
}

/** `lazurite cluster up|down|kill-host`: a local multi-host Slurm cluster (src/backends/slurm/cluster.ts). */
export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('a local Slurm cluster for the slurm node backend');
  cluster
    .command('up')
    .description(
      'start slurmctld and N hosts, each a slurmd in its own network, mount, UTS and PID namespace',
    )
    .requiredOption('--hosts <n>', 'how many hosts', (v) => parseCount(v, '--hosts'))
    .requiredOption(
      '--state-dir <dir>',
      'where the cluster keeps its configuration, state and host data dirs',
    )
    .option('--network <cidr>', "the cluster bridge's network (default 10.251.0.0/24)")
    .option('--cpus-per-host <n>', 'CPUs each host declares (default 16)', (v) =>
      parseCount(v, '--cpus-per-host'),
    )
    .option('--memory-per-host <mb>', 'memory each host declares, MB (default 65536)', (v) =>
      parseCount(v, '--memory-per-host'),
    )
    .option('--controller-port <port>', "slurmctld's port (default 6817)", (v) =>
      parseCount(v, '--controller-port'),
    )
    .option('--json', 'print {"hosts":[{"name","address"}],"serverArgs":[...]}')
    .action(
      async (opts: {
        hosts: number;
        stateDir: string;
        network?: string;
        cpusPerHost?: number;
        memoryPerHost?: number;
        controllerPort?: number;
        json?: boolean;
      }) => {
        const info = await clusterUp({
          stateDir: opts.stateDir,
          hosts: opts.hosts,
          ...(opts.network === undefined ? {} : { network: opts.network }),
          ...(opts.cpusPerHost === undefined ? {} : { cpusPerHost: opts.cpusPerHost }),
          ...(opts.memoryPerHost === undefined ? {} : { memoryMBPerHost: opts.memoryPerHost }),
          ...(opts.controllerPort === undefined ? {} : { controllerPort: opts.controllerPort }),
          environment: process.env,
        });
        process.stdout.write(opts.json === true ? `${JSON.stringify(info)}\n` : formatInfo(info));
      },
    );
  cluster
    .command('down')
    .description('stop the cluster and remove what `cluster up` made (idempotent)')
    .requiredOption('--state-dir <dir>', 'the state dir given to `cluster up`')
    .action(async (opts: { stateDir: string }) => {
      await clusterDown(opts.stateDir);
    });
  cluster
    .command('kill-host <name>')
    .description('SIGKILL every process of one host (its slurmd and all it runs), as a power cut would')
    .requiredOption('--state-dir <dir>', 'the state dir given to `cluster up`')
    .action(async (name: string, opts: { stateDir: string }) => {
      await killHost(opts.stateDir, name);
    });
}
