/**
 * The node address plan (ADR 0021): one private IPv4 range for every node of this server (`--node-network`,
 * default DEFAULT_NODE_NETWORK), cut into host subnets of SUBNET_PREFIX (or the whole range when it is smaller).
 * The server hands subnets to hosts as they need them (a host keeps its subnets) and each node an address in one of
 * its host's subnets: the first address of a subnet is its network, the second the host's bridge (the nodes'
 * gateway), the last its broadcast. One subnet is one bridge on the host, so a subnet holds at most 1,021 nodes
 * (a Linux bridge takes 1,024 ports); a host with more nodes gets another subnet.
 */

export const DEFAULT_NODE_NETWORK = '10.213.0.0/16';
export const SUBNET_PREFIX = 22;

export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

/** What a node's network is made of on its host. */
export interface NodeAddress {
  address: string;
  /** The subnet's prefix length (the node's address and the bridge's). */
  prefix: number;
  /** The host's bridge address in the subnet: the node's default route. */
  gateway: string;
  /** The whole node range (NAT and forwarding rules cover it). */
  range: string;
}

function size(prefix: number): number {
  return 2 ** (32 - prefix);
}

const PRIVATE: Cidr[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map((c) => parseCidr(c));

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255))
    return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `a.b.c.d/n` with no host bits set; throws saying what is wrong. */
export function parseCidr(text: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  const base = m?.[1] === undefined ? undefined : parseIpv4(m[1]);
  const prefix = Number(m?.[2]);
  if (base === undefined || !(prefix >= 0 && prefix <= 32))
    throw new Error(`'${text}' is not an IPv4 network (a.b.c.d/n)`);
  if (base % size(prefix) !== 0)
    throw new Error(
      `'${text}' has host bits set (the network is ${formatIpv4(base - (base % size(prefix)))})`,
    );
  return { base, prefix };
}

export const formatCidr = (c: Cidr) => `${formatIpv4(c.base)}/${String(c.prefix)}`;

function within(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && inner.base - (inner.base % size(outer.prefix)) === outer.base;
}

/** The node range: private (RFC 1918) and room for at least one subnet with a node (a /30 or larger). */
export function parseNodeNetwork(text: string): Cidr {
  const c = parseCidr(text);
  if (!PRIVATE.some((p) => within(c, p)))
    throw new Error(
      `node network '${text}' is not private (within 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)`,
    );
  if (c.prefix > 30) throw new Error(`node network '${text}' is too small (a /30 at least)`);
  return c;
}

export const subnetPrefix = (network: Cidr) => Math.max(network.prefix, SUBNET_PREFIX);

/** How many node addresses the range holds: each subnet less its network, bridge and broadcast addresses. */
export function addressCapacity(network: Cidr): number {
  return subnets(network).length * (size(subnetPrefix(network)) - 3);
}

/** The network's host subnets, in order. */
export function subnets(network: Cidr): Cidr[] {
  const prefix = subnetPrefix(network);
  const count = size(network.prefix) / size(prefix);
  return Array.from({ length: count }, (_, i) => ({ base: network.base + i * size(prefix), prefix }));
}

/** A node's addressing in `subnet` (as text) at `address`. */
export function nodeAddress(network: Cidr, subnet: Cidr, address: number): NodeAddress {
  return {
    address: formatIpv4(address),
    prefix: subnet.prefix,
    gateway: formatIpv4(subnet.base + 1),
    range: formatCidr(network),
  };
}

/**
 * Hands out node addresses for one host: `owned` are the host's subnets, `claimed` every subnet any host holds,
 * `used` the addresses of the host's nodes. `next()` gives the lowest free address in the host's subnets, claiming
 * the network's next free subnet (reported through `onClaim`) when they are full; undefined when the range is
 * exhausted.
 */
export class AddressPicker {
  private readonly network: Cidr;
  private readonly owned: Cidr[];
  private readonly claimed: Set<number>;
  private readonly used: Set<number>;
  private readonly onClaim: (subnet: Cidr) => void;
  private cursor = { subnet: 0, offset: 2 };

  constructor(
    network: Cidr,
    owned: string[],
    claimed: string[],
    used: string[],
    onClaim: (subnet: Cidr) => void,
  ) {
    this.network = network;
    const prefix = subnetPrefix(network);
    const mine = (c: string) => {
      try {
        const s = parseCidr(c);
        return s.prefix === prefix && within(s, network) ? [s] : [];
      } catch {
        return [];
      }
    };
    this.owned = owned.flatMap(mine).sort((a, b) => a.base - b.base);
    this.claimed = new Set(claimed.flatMap(mine).map((s) => s.base));
    this.used = new Set(used.map(parseIpv4).filter((n) => n !== undefined));
    this.onClaim = onClaim;
  }

  next(): NodeAddress | undefined {
    for (;;) {
      const subnet = this.owned[this.cursor.subnet] ?? this.claim();
      if (subnet === undefined) return undefined;
      const last = size(subnet.prefix) - 2; // the broadcast address is offset size - 1
      while (this.cursor.offset <= last) {
        const address = subnet.base + this.cursor.offset++;
        if (this.used.has(address)) continue;
        this.used.add(address);
        return nodeAddress(this.network, subnet, address);
      }
      this.cursor = { subnet: this.cursor.subnet + 1, offset: 2 };
    }
  }

  private claim(): Cidr | undefined {
    const free = subnets(this.network).find((s) => !this.claimed.has(s.base));
    if (free === undefined) return undefined;
    this.claimed.add(free.base);
    this.owned.push(free);
    this.onClaim(free);
    return free;
  }
}

/** The subnet (as `a.b.c.d/n`) an address of the plan lies in. */
export function subnetOf(address: NodeAddress): string {
  const a = parseIpv4(address.address) ?? 0;
  return formatCidr({ base: a - (a % size(address.prefix)), prefix: address.prefix });
}

/**
 * What a multi-instance task's environment will need (built later, issue 16): the addresses of the nodes given to
 * it, primary first, as Batch formats them — `AZ_BATCH_HOST_LIST` comma-separated, `AZ_BATCH_NODE_LIST`
 * semicolon-separated, `AZ_BATCH_MASTER_NODE` the primary's `address:port`. Nodes without an address are skipped.
 */
export function multiInstanceEnvironment(
  nodes: { network?: { address: string } }[],
  masterPort = 6000,
): Record<string, string> {
  const addresses = nodes.flatMap((n) => (n.network === undefined ? [] : [n.network.address]));
  return {
    AZ_BATCH_HOST_LIST: addresses.join(','),
    AZ_BATCH_NODE_LIST: addresses.join(';'),
    ...(addresses[0] === undefined ? {} : { AZ_BATCH_MASTER_NODE: `${addresses[0]}:${String(masterPort)}` }),
  };
}
