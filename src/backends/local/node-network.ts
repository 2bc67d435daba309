import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { NodeNetwork } from '../port.ts';
import { compileHelper } from './compile-helper.ts';
import type { Launcher } from './launcher.ts';
import { shq } from './node-sandbox.ts';

const SOURCE = fileURLToPath(new URL('./node-net.c', import.meta.url));

/** The node-net helper (node-net.c), built once per source version; undefined without a C compiler. */
export function nodeNetHelper(dataDir: string): string | undefined {
  return compileHelper(dataDir, SOURCE);
}

function ipv4Number(text: string): number {
  return text.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** The bridge of a node's subnet: `lzb` + the subnet's address in hex (one bridge per subnet on this host). */
export function bridgeName(net: NodeNetwork): string {
  const a = ipv4Number(net.address);
  const size = 2 ** (32 - net.prefix);
  return `lzb${hex8(a - (a % size))}`;
}

/** The host end of a node's veth pair: unique on this machine (data dir and node id), 14 characters. */
export function hostInterface(dataDir: string, nodeId: string): string {
  return `lzv${createHash('sha256').update(`${dataDir}\0${nodeId}`).digest('hex').slice(0, 11)}`;
}

/**
 * The nftables table of a node range (replaced as a whole, so applying it again changes nothing): nodes reach
 * anything outside the range through the host, masqueraded to the host's address; inside the range they reach each
 * other; from outside the range only replies come in (no port forwards: nothing outside the host reaches a node).
 */
export function rangeRules(range: string): string {
  const [base = '', prefix = ''] = range.split('/');
  const table = `lazurite_${hex8(ipv4Number(base))}_${prefix}`;
  return [
    `table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${range} ip daddr != ${range} masquerade`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    ip daddr ${range} ct state established,related accept`,
    `    ip daddr ${range} ip saddr ${range} accept`,
    `    ip daddr ${range} drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * The network side of this host's nodes (ADR 0021): per node range its nftables table and IPv4 forwarding, per
 * subnet a bridge holding the gateway address, per node a veth pair whose peer is the node's `eth0` (node-net.c,
 * started through the launcher: one fork and one exec per node). A node's pair goes with its network namespace
 * when its holder dies; `detach` removes a host end the kernel has not freed yet.
 */
export class NodeNetworks {
  private readonly launcher: Launcher;
  private readonly helper: string | undefined;
  private readonly dataDir: string;
  private readonly ranges = new Map<string, Promise<void>>();
  private readonly bridges = new Map<string, Promise<void>>();

  constructor(launcher: Launcher, helper: string | undefined, dataDir: string) {
    this.launcher = launcher;
    this.helper = helper;
    this.dataDir = dataDir;
  }

  /** Gives the node whose PID 1 is `holderPid` its `eth0` (again: an existing pair is replaced). */
  async attach(nodeId: string, holderPid: number, net: NodeNetwork): Promise<void> {
    await this.range(net.range);
    const bridge = await this.bridge(net);
    const hostIf = hostInterface(this.dataDir, nodeId);
    const args = [String(holderPid), bridge, hostIf, net.address, String(net.prefix), net.gateway];
    await this.helperRun(['veth', ...args]);
  }

  /**
   * A stopped node's pair goes with its namespace, which the kernel frees in a worker some time later: the host end
   * left meanwhile is deleted now, so a stopped node has no interface on the host.
   */
  async detach(nodeId: string): Promise<void> {
    const hostIf = hostInterface(this.dataDir, nodeId);
    if (this.helper !== undefined && existsSync(`/sys/class/net/${hostIf}`))
      await this.helperRun(['delete', hostIf]);
  }

  /** An adopted node: its pair is made again if it is missing (e.g. deleted by hand). */
  async ensure(nodeId: string, holderPid: number, net: NodeNetwork): Promise<void> {
    if (existsSync(`/sys/class/net/${hostInterface(this.dataDir, nodeId)}`)) {
      await this.range(net.range);
      await this.bridge(net); // so that close removes it
      return;
    }
    await this.attach(nodeId, holderPid, net);
  }

  /** The bridge of the node's subnet, made (or found) once per executor. */
  private async bridge(net: NodeNetwork): Promise<string> {
    const name = bridgeName(net);
    await this.once(this.bridges, name, () =>
      this.helperRun(['bridge', name, net.gateway, String(net.prefix)]),
    );
    return name;
  }

  private range(range: string): Promise<void> {
    return this.once(this.ranges, range, async () => {
      await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
      const script = (id: string) =>
        `command -v nft >/dev/null || { echo "nft is not installed: apt-get install nftables" >&2; exit 127; }\n` +
        `printf '%s' ${shq(rangeRules(range))} | nft -f - && echo ${shq(`${id} done`)}`;
      const r = await this.launcher.run(script);
      if (r.code !== 0)
        throw new Error(
          `node network ${range}: nftables rules failed (exit ${String(r.code)}): ${r.stderr.trim()}`,
        );
    });
  }

  private once(map: Map<string, Promise<void>>, key: string, work: () => Promise<void>): Promise<void> {
    let p = map.get(key);
    if (p === undefined) {
      p = work();
      map.set(key, p);
      p.catch(() => map.delete(key));
    }
    return p;
  }

  private async helperRun(args: string[]): Promise<void> {
    const helper = this.helper;
    if (helper === undefined)
      throw new Error(
        'node networks need the compiled node-net helper: install a C compiler (apt-get install gcc)',
      );
    const r = await this.launcher.run(() => [helper, ...args].map(shq).join(' '), undefined, true);
    if (r.code !== 0)
      throw new Error(`node-net ${args[0] ?? ''} failed (exit ${String(r.code)}): ${r.stderr.trim()}`);
  }

  /** Removes this host's bridges and rules of its node ranges (server shutdown, every node stopped). */
  async close(): Promise<void> {
    const bridges = [...this.bridges.keys()];
    const ranges = [...this.ranges.keys()];
    this.bridges.clear();
    this.ranges.clear();
    if (bridges.length === 0 && ranges.length === 0) return;
    const tables = ranges.map((r) => {
      const [base = '', prefix = ''] = r.split('/');
      return `nft delete table ip lazurite_${hex8(ipv4Number(base))}_${prefix}`;
    });
    const helper = this.helper;
    const links = helper === undefined ? [] : bridges.map((b) => [helper, 'delete', b].map(shq).join(' '));
    await this.launcher.run(() => [...links, ...tables].map((c) => `${c} 2>/dev/null`).join('\n'));
  }
}
