import { isIPv4 } from 'node:net';
import { invalidProperty, missingProperty, unsupportedProperty } from './pool-spec.ts';

/**
 * A pool's `networkConfiguration.endpointConfiguration` (ADR 0027): inbound NAT pools and their network security
 * group rules, checked as Batch checks them. Lazurite forwards one backend port, 22: the node's remote login, whose
 * frontend ports come from the NAT pool's range and whose rules decide who may connect. Other backend ports would
 * be port forwards into the node, which Lazurite does not make: refused with UnsupportedProperty.
 */

const BASE = 'networkConfiguration.endpointConfiguration.inboundNATPools';
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,75}[A-Za-z0-9_])?$/;
/** Ports Batch keeps for itself (29876, 29877: the node agent). */
const RESERVED_BACKEND = new Set([29876, 29877]);
const RESERVED_FRONTEND = { first: 50000, last: 55000 };
const MAX_NAT_POOLS = 5;
const MAX_RULES = 25;
/** The backend port of remote login. */
export const SSH_PORT = 22;

export interface SecurityRule {
  priority: number;
  access: 'allow' | 'deny';
  sourceAddressPrefix: string;
  sourcePortRanges?: string[];
}

interface NatPool {
  name: string;
  protocol: string;
  backendPort: number;
  frontendPortRangeStart: number;
  frontendPortRangeEnd: number;
  networkSecurityGroupRules?: SecurityRule[];
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function ipv4Number(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** `*`, an IPv4 address or an IPv4 CIDR prefix; undefined when it is none of them. */
function prefixOf(text: string): { base: number; bits: number } | undefined {
  if (text === '*') return { base: 0, bits: 0 };
  const [ip, bitsText, extra] = text.split('/');
  if (ip === undefined || extra !== undefined || !isIPv4(ip)) return undefined;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (!/^\d{1,2}$/.test(bitsText ?? '32') || bits > 32) return undefined;
  return { base: ipv4Number(ip), bits };
}

/** `*`, a port or a port range `a-b` within 0–65535; undefined when none of them. */
function portRangeOf(text: string): [number, number] | undefined {
  if (text === '*') return [0, 65535];
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  return a <= b && b <= 65535 ? [a, b] : undefined;
}

function checkRule(value: unknown, at: string, priorities: Set<number>): void {
  const rule = (value ?? {}) as Record<string, unknown>;
  if (rule.priority === undefined) throw missingProperty(`${at}.priority`);
  if (!isInt(rule.priority) || rule.priority < 150 || rule.priority > 4096)
    throw invalidProperty(`${at}.priority`, 'Priorities are between 150 and 4096.');
  if (priorities.has(rule.priority))
    throw invalidProperty(`${at}.priority`, 'Priorities within a pool must be unique.');
  priorities.add(rule.priority);
  if (rule.access !== 'allow' && rule.access !== 'deny')
    throw invalidProperty(`${at}.access`, 'access is allow or deny.');
  if (typeof rule.sourceAddressPrefix !== 'string') throw missingProperty(`${at}.sourceAddressPrefix`);
  // A service tag (Internet, VirtualNetwork, AzureLoadBalancer, …) is valid in Batch but means nothing here.
  if (/^[A-Za-z][A-Za-z0-9.]*$/.test(rule.sourceAddressPrefix))
    throw unsupportedProperty(
      `${at}.sourceAddressPrefix`,
      `Service tags ('${rule.sourceAddressPrefix}') are not supported by this server; use '*', an IPv4 address or subnet.`,
    );
  if (prefixOf(rule.sourceAddressPrefix) === undefined)
    throw invalidProperty(
      `${at}.sourceAddressPrefix`,
      `'${rule.sourceAddressPrefix}' is not '*', an IP address, a subnet or a service tag.`,
    );
  const ranges = rule.sourcePortRanges ?? ['*'];
  if (!Array.isArray(ranges)) throw invalidProperty(`${at}.sourcePortRanges`, 'sourcePortRanges is a list.');
  const seen: [number, number][] = [];
  for (const r of ranges) {
    const range = typeof r === 'string' ? portRangeOf(r) : undefined;
    if (!range)
      throw invalidProperty(`${at}.sourcePortRanges`, `'${String(r)}' is not '*', a port or a port range.`);
    if (seen.some(([a, b]) => range[0] <= b && a <= range[1]))
      throw invalidProperty(`${at}.sourcePortRanges`, 'Source port ranges must not overlap.');
    seen.push(range);
  }
}

function checkNatPool(value: unknown, at: string, seen: { names: Set<string>; backends: Set<number> }): void {
  const pool = (value ?? {}) as Record<string, unknown>;
  for (const k of ['name', 'protocol', 'backendPort', 'frontendPortRangeStart', 'frontendPortRangeEnd'])
    if (pool[k] === undefined || pool[k] === null) throw missingProperty(`${at}.${k}`);
  if (typeof pool.name !== 'string' || !NAME.test(pool.name))
    throw invalidProperty(
      `${at}.name`,
      'A name has letters, digits, underscores, periods and hyphens, starts with a letter or digit, ends with a letter, digit or underscore, at most 77 characters.',
    );
  if (seen.names.has(pool.name.toLowerCase()))
    throw invalidProperty(`${at}.name`, 'Names must be unique within a pool.');
  seen.names.add(pool.name.toLowerCase());
  if (pool.protocol !== 'tcp' && pool.protocol !== 'udp')
    throw invalidProperty(`${at}.protocol`, 'protocol is tcp or udp.');
  const backend = pool.backendPort;
  if (!isInt(backend) || backend < 1 || backend > 65535 || RESERVED_BACKEND.has(backend))
    throw invalidProperty(`${at}.backendPort`, 'backendPort is 1–65535 except 29876 and 29877.');
  if (seen.backends.has(backend))
    throw invalidProperty(`${at}.backendPort`, 'Backend ports must be unique within a pool.');
  seen.backends.add(backend);
  const [start, end] = [pool.frontendPortRangeStart, pool.frontendPortRangeEnd];
  for (const [k, v] of [
    ['frontendPortRangeStart', start],
    ['frontendPortRangeEnd', end],
  ] as const)
    if (!isInt(v) || v < 1 || v > 65534 || (v >= RESERVED_FRONTEND.first && v <= RESERVED_FRONTEND.last))
      throw invalidProperty(
        `${at}.${k}`,
        'Frontend ports are 1–65534 except 50000–55000 (reserved by Batch).',
      );
  if ((end as number) - (start as number) + 1 < 40)
    throw invalidProperty(`${at}.frontendPortRangeEnd`, 'A frontend port range holds at least 40 ports.');
  if ((start as number) < RESERVED_FRONTEND.first && (end as number) > RESERVED_FRONTEND.last)
    throw invalidProperty(`${at}.frontendPortRangeEnd`, 'The range must not contain 50000–55000.');
}

/** Checks `networkConfiguration` of a pool add; what Lazurite does not implement is refused. */
export function checkNetworkConfiguration(value: unknown): void {
  if (value === undefined || value === null) return;
  const net = value as Record<string, unknown>;
  for (const k of ['subnetId', 'publicIPAddressConfiguration', 'dynamicVNetAssignmentScope'])
    if (net[k] !== undefined && net[k] !== null && !(k === 'dynamicVNetAssignmentScope' && net[k] === 'none'))
      throw unsupportedProperty(
        `networkConfiguration.${k}`,
        `networkConfiguration.${k} is not supported by this server.`,
      );
  if (net.enableAcceleratedNetworking === true)
    throw unsupportedProperty(
      'networkConfiguration.enableAcceleratedNetworking',
      'Accelerated networking is not supported by this server.',
    );
  const endpoint = net.endpointConfiguration as Record<string, unknown> | undefined | null;
  if (endpoint === undefined || endpoint === null) return;
  const pools = endpoint.inboundNATPools;
  if (!Array.isArray(pools)) throw missingProperty(BASE);
  if (pools.length > MAX_NAT_POOLS) throw invalidProperty(BASE, 'A pool has at most 5 inbound NAT pools.');
  const seen = { names: new Set<string>(), backends: new Set<number>() };
  const priorities = new Set<number>();
  let rules = 0;
  const ranges: [number, number][] = [];
  pools.forEach((p: unknown, i) => {
    const at = `${BASE}[${String(i)}]`;
    checkNatPool(p, at, seen);
    const nat = p as NatPool;
    const range: [number, number] = [nat.frontendPortRangeStart, nat.frontendPortRangeEnd];
    if (ranges.some(([a, b]) => range[0] <= b && a <= range[1]))
      throw invalidProperty(`${at}.frontendPortRangeStart`, 'Frontend port ranges must not overlap.');
    ranges.push(range);
    if (nat.backendPort !== SSH_PORT || nat.protocol !== 'tcp')
      throw unsupportedProperty(
        `${at}.backendPort`,
        'This server forwards only tcp port 22 (remote login); other inbound NAT pools are not supported.',
      );
    const list = nat.networkSecurityGroupRules ?? [];
    if (!Array.isArray(list)) throw invalidProperty(`${at}.networkSecurityGroupRules`, 'A list of rules.');
    rules += list.length;
    if (rules > MAX_RULES)
      throw invalidProperty(
        `${at}.networkSecurityGroupRules`,
        'A pool has at most 25 rules over all its endpoints.',
      );
    list.forEach((r: unknown, j) => {
      checkRule(r, `${at}.networkSecurityGroupRules[${String(j)}]`, priorities);
    });
  });
}

/** What a pool's spec says about remote login: the frontend port range and the rules (none = allow all). */
export interface RemoteLoginEndpoint {
  ports?: { first: number; last: number };
  rules: SecurityRule[];
}

export function remoteLoginEndpoint(spec: Record<string, unknown>): RemoteLoginEndpoint {
  const net = spec.networkConfiguration as
    { endpointConfiguration?: { inboundNATPools?: NatPool[] } } | undefined;
  const ssh = net?.endpointConfiguration?.inboundNATPools?.find((p) => p.backendPort === SSH_PORT);
  if (!ssh) return { rules: [] };
  return {
    ports: { first: ssh.frontendPortRangeStart, last: ssh.frontendPortRangeEnd },
    rules: ssh.networkSecurityGroupRules ?? [],
  };
}

/**
 * Whether a connection from `address:port` may reach the endpoint: the rules in priority order, the first that
 * matches decides; with rules and none matching, denied (Azure's default inbound deny); without rules, allowed
 * (Batch's default rule). IPv4-mapped IPv6 addresses count as IPv4; other IPv6 sources match only `*`.
 */
export function connectionAllowed(rules: SecurityRule[], address: string, port: number): boolean {
  if (rules.length === 0) return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  const ordered = [...rules].sort((a, b) => a.priority - b.priority);
  for (const rule of ordered) {
    const prefix = prefixOf(rule.sourceAddressPrefix);
    if (!prefix) continue;
    const addressMatches =
      prefix.bits === 0 ||
      (isIPv4(v4) &&
        Math.floor(ipv4Number(v4) / 2 ** (32 - prefix.bits)) ===
          Math.floor(prefix.base / 2 ** (32 - prefix.bits)));
    const portMatches = (rule.sourcePortRanges ?? ['*']).some((r) => {
      const range = portRangeOf(r);
      return range !== undefined && port >= range[0] && port <= range[1];
    });
    if (addressMatches && portMatches) return rule.access === 'allow';
  }
  return false;
}
