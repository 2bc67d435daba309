import type { Command } from 'commander';
import { loadConfig, type ConfigFlags } from '../config/config.ts';
import { DEFAULT_PLAN_MODEL, planPool } from '../domain/pools/planner.ts';
import { applyAzSetup, printAzSetup } from './az-setup.ts';
import { ServerClient, readConnection } from './client.ts';
import { bashCompletion } from './completion.ts';
import { describeConnection, environmentOf, exportLines } from './env.ts';
import { formatPlan, parseCount, parseTimeout, replicasOf } from './plan.ts';
import { watchImageVersion, watchPool, type WatchOptions } from './watch.ts';

type Common = (cmd: Command) => Command;
type Flags = ConfigFlags & { json?: boolean };

const print = (json: boolean | undefined, value: unknown, text: () => string) => {
  process.stdout.write(json === true ? `${JSON.stringify(value, null, 2)}\n` : text());
};

function registerWatch(program: Command, common: Common): void {
  const watch = program
    .command('watch')
    .description('follow a pool or an image version with live progress until it settles');
  const options = (cmd: Command) =>
    common(cmd)
      .option('--interval <seconds>', 'seconds between readings', '1')
      .option('--timeout <duration>', 'give up (exit 2) after this long, e.g. 10m')
      .option('--json', 'print the final state as JSON (no bars)');
  const watchOptions = (o: { interval: string; timeout?: string; json?: boolean }): WatchOptions => ({
    intervalMs: Number(o.interval) * 1000,
    timeoutMs: o.timeout === undefined ? undefined : parseTimeout(o.timeout, '--timeout'),
    quiet: o.json === true,
  });
  options(
    watch
      .command('pool <id>')
      .description('nodes by state against the target; exits 0 once the pool is steady'),
  ).action(async (id: string, o: Flags & { interval: string; timeout?: string }) => {
    const client = new ServerClient(readConnection(loadConfig(o)));
    const result = await watchPool(client, id, watchOptions(o));
    print(o.json, result, () => `pool ${id} is steady\n`);
  });
  options(
    watch
      .command('image-version <id>')
      .description('replication per region of a gallery image version (its ARM id); exits 0 once completed'),
  ).action(async (id: string, o: Flags & { interval: string; timeout?: string }) => {
    const client = new ServerClient(readConnection(loadConfig(o)));
    const result = await watchImageVersion(client, id, watchOptions(o));
    print(o.json, result, () => `image version replicated to ${String(result.regions.length)} region(s)\n`);
  });
}

interface PlanFlags extends Flags {
  nodes: string;
  replicas?: string;
  resizeTimeout?: string;
  image?: string;
  capacity?: string;
  copyTime: string;
  bootTime: string;
  startTaskTime: string;
}

/** The planner's default durations as option defaults (`60s`): one source, DEFAULT_PLAN_MODEL. */
const seconds = (ms: number) => `${String(ms / 1000)}s`;

function registerPlan(program: Command, common: Common): void {
  common(
    program
      .command('plan')
      .description("answer the seeds' large-pool questions: replicas, resize timeout, predicted allocation")
      .requiredOption('--nodes <n>', 'pool size (dedicated + low-priority nodes)')
      .option('--replicas <r>', 'replicas of the image in the Batch account region (the given setting)')
      .option('--resize-timeout <duration>', 'the given resize timeout: minutes, 45m, 1h or PT45M')
      .option('--image <id>', 'gallery image version id: read its replica count from the server')
      .option('--capacity <n>', 'concurrent node copies one replica serves (default: the server setting)')
      .option(
        '--copy-time <duration>',
        'per node, copying its disks from a replica',
        seconds(DEFAULT_PLAN_MODEL.copyMs),
      )
      .option('--boot-time <duration>', 'per node, boot', seconds(DEFAULT_PLAN_MODEL.bootMs))
      .option('--start-task-time <duration>', 'per node, start task', seconds(DEFAULT_PLAN_MODEL.startTaskMs))
      .option('--json', 'print the plan as JSON'),
  ).action(async (o: PlanFlags) => {
    const config = loadConfig(o);
    const nodes = parseCount(o.nodes, '--nodes');
    let replicas = o.replicas === undefined ? undefined : parseCount(o.replicas, '--replicas');
    if (o.image !== undefined) {
      const client = new ServerClient(readConnection(config));
      replicas = await replicasOf(client, o.image, client.connection.location);
    }
    const plan = planPool(
      nodes,
      {
        ...DEFAULT_PLAN_MODEL,
        capacityPerReplica:
          o.capacity === undefined ? config.replicaCapacity : parseCount(o.capacity, '--capacity'),
        copyMs: parseTimeout(o.copyTime, '--copy-time'),
        bootMs: parseTimeout(o.bootTime, '--boot-time'),
        startTaskMs: parseTimeout(o.startTaskTime, '--start-task-time'),
      },
      {
        ...(replicas === undefined ? {} : { replicas }),
        ...(o.resizeTimeout === undefined
          ? {}
          : { resizeTimeoutMs: parseTimeout(o.resizeTimeout, '--resize-timeout') }),
      },
    );
    print(o.json, plan, () => formatPlan(plan));
  });
}

/** The commands that talk to a running server or print what its users need: env, az-setup, watch, plan. */
export function registerClientCommands(program: Command, common: Common): void {
  common(
    program
      .command('env')
      .description('connection details of the server in the data dir')
      .option('--export', 'print shell variables: eval "$(lazurite env --export)"')
      .option('--json', 'print JSON'),
  ).action((o: Flags & { export?: boolean }) => {
    const c = readConnection(loadConfig(o));
    if (o.export === true) process.stdout.write(exportLines(c));
    else print(o.json, { ...c, environment: environmentOf(c) }, () => describeConnection(c));
  });
  common(
    program
      .command('az-setup')
      .description('print (or --apply) the az CLI commands that register, trust and log in to the server')
      .option(
        '--apply',
        'run them: trust the CA, register and select the cloud, log in, select the Batch account',
      )
      .option('--json', 'print JSON'),
  ).action((o: Flags & { apply?: boolean }) => {
    const config = loadConfig(o);
    if (o.apply !== true) {
      printAzSetup(config, o.json === true);
      return;
    }
    const result = applyAzSetup(config, (line) => process.stderr.write(`${line}\n`));
    if (o.json === true) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  });
  registerWatch(program, common);
  registerPlan(program, common);
  program
    .command('completion')
    .description('print a shell completion script: source <(lazurite completion bash)')
    .argument('[shell]', 'bash or zsh', 'bash')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') {
        throw new Error(`no completion for '${shell}' (bash or zsh)`);
      }
      process.stdout.write(bashCompletion(program));
    });
}
