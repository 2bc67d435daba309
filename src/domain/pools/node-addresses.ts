import type { StoreTx } from '../../storage/port.ts';
import type { NodeRecord } from '../../storage/records.ts';
import { AddressPicker, formatCidr, type Cidr } from './node-network.ts';

/**
 * A host's sync takes the nodes no host runs yet, each with an address from the plan (ADR 0021): the lowest free
 * one in the host's subnets, a new subnet claimed for the host when they are full. A node the range has no address
 * left for is not taken (it stays `creating` for a host with room). Nodes of this host from before the address
 * plan get one too. Returns the host's nodes (taken ones included) and those to write.
 */
export async function takeNodes(
  tx: StoreTx,
  network: Cidr,
  hostId: string,
  listed: NodeRecord[],
): Promise<{ nodes: NodeRecord[]; changed: NodeRecord[] }> {
  const needs = listed.filter((n) => n.hostId === null || n.network === undefined);
  if (needs.length === 0) return { nodes: listed, changed: [] };
  const held = await tx.listHostSubnets();
  const claims: string[] = [];
  const picker = new AddressPicker(
    network,
    held.filter((s) => s.hostId === hostId).map((s) => s.subnet),
    held.map((s) => s.subnet),
    listed.flatMap((n) => (n.hostId === hostId && n.network ? [n.network.address] : [])),
    (s) => claims.push(formatCidr(s)),
  );
  const nodes: NodeRecord[] = [];
  const changed: NodeRecord[] = [];
  for (const n of listed) {
    if (n.hostId !== null && n.network !== undefined) {
      nodes.push(n);
      continue;
    }
    const network = picker.next();
    if (network === undefined && n.hostId === null) continue;
    const next = { ...n, hostId, ...(network === undefined ? {} : { network }) };
    nodes.push(next);
    changed.push(next);
  }
  for (const subnet of claims) await tx.addHostSubnet(subnet, hostId);
  return { nodes, changed };
}
