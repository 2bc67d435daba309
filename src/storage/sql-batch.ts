import type { Transaction } from 'kysely';
import type { Sealer } from '../platform/sealing.ts';
import type { SqlDialect } from './dialect.ts';
import type { NodeRecord, PoolRecord } from './records.ts';
import type { Database } from './sqlite/schema.ts';
import { caseKey } from './keys.ts';

/** Batch pools and compute nodes over Kysely, stored as JSON documents keyed case-insensitively. */
const inMotion = (p: PoolRecord): number =>
  p.state === 'deleting' || p.allocationState !== 'steady' ? 1 : 0;

const mapValues = (m: Record<string, string>, f: (v: string) => string) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(v)]));

/** The pool's stored document: its account password hashes (ADR 0026) and registry passwords (ADR 0039) sealed. */
function poolDoc(p: PoolRecord, sealer: Sealer): string {
  let doc = p;
  if (p.passwordHashes !== undefined)
    doc = { ...doc, passwordHashes: mapValues(p.passwordHashes, (v) => sealer.seal(v)) };
  if (p.registryPasswords !== undefined)
    doc = { ...doc, registryPasswords: mapValues(p.registryPasswords, (v) => sealer.seal(v)) };
  return JSON.stringify(doc);
}

/** A stored pool document as a record (its password hashes and registry passwords opened). */
function poolOf(doc: string, sealer: Sealer): PoolRecord {
  let p = JSON.parse(doc) as PoolRecord;
  if (p.passwordHashes !== undefined)
    p = { ...p, passwordHashes: mapValues(p.passwordHashes, (v) => sealer.open(v)) };
  if (p.registryPasswords !== undefined)
    p = { ...p, registryPasswords: mapValues(p.registryPasswords, (v) => sealer.open(v)) };
  return p;
}

export async function putPool(db: Transaction<Database>, p: PoolRecord, sealer: Sealer): Promise<void> {
  const row = {
    account_key: caseKey(p.accountName),
    id_key: caseKey(p.id),
    in_motion: inMotion(p),
    doc: poolDoc(p, sealer),
  };
  await db
    .insertInto('pools')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['account_key', 'id_key']).doUpdateSet({ in_motion: row.in_motion, doc: row.doc }),
    )
    .execute();
}

export async function findPool(db: Transaction<Database>, account: string, id: string, sealer: Sealer) {
  const r = await db
    .selectFrom('pools')
    .select('doc')
    .where('account_key', '=', caseKey(account))
    .where('id_key', '=', caseKey(id))
    .executeTakeFirst();
  return r === undefined ? undefined : poolOf(r.doc, sealer);
}

export async function listPools(
  db: Transaction<Database>,
  account: string,
  sealer: Sealer,
): Promise<PoolRecord[]> {
  const rows = await db
    .selectFrom('pools')
    .select('doc')
    .where('account_key', '=', caseKey(account))
    .orderBy('id_key')
    .execute();
  return rows.map((r) => poolOf(r.doc, sealer));
}

export async function listPoolsInMotion(db: Transaction<Database>, sealer: Sealer): Promise<PoolRecord[]> {
  const rows = await db.selectFrom('pools').select('doc').where('in_motion', '=', 1).execute();
  return rows.map((r) => poolOf(r.doc, sealer));
}

/** Every pool of every account with autoscale enabled (the autoscaler samples and evaluates them). */
export async function listAutoScalePools(
  db: Transaction<Database>,
  dialect: SqlDialect,
  sealer: Sealer,
): Promise<PoolRecord[]> {
  const rows = await db
    .selectFrom('pools')
    .select('doc')
    .where(dialect.jsonText('doc', ['autoScale']), 'is not', null)
    .execute();
  return rows.map((r) => poolOf(r.doc, sealer));
}

export async function deletePool(db: Transaction<Database>, account: string, id: string): Promise<boolean> {
  await db
    .deleteFrom('nodes')
    .where('account_key', '=', caseKey(account))
    .where('pool_key', '=', caseKey(id))
    .execute();
  const r = await db
    .deleteFrom('pools')
    .where('account_key', '=', caseKey(account))
    .where('id_key', '=', caseKey(id))
    .executeTakeFirst();
  return r.numDeletedRows > 0n;
}

export async function putNodes(db: Transaction<Database>, nodes: NodeRecord[]): Promise<void> {
  for (let i = 0; i < nodes.length; i += 200) {
    const rows = nodes.slice(i, i + 200).map((n) => ({
      account_key: caseKey(n.accountName),
      pool_key: caseKey(n.poolId),
      id_key: caseKey(n.id),
      host_id: n.hostId,
      doc: JSON.stringify(n),
    }));
    await db
      .insertInto('nodes')
      .values(rows)
      .onConflict((oc) =>
        oc.columns(['account_key', 'pool_key', 'id_key']).doUpdateSet((eb) => ({
          host_id: eb.ref('excluded.host_id'),
          doc: eb.ref('excluded.doc'),
        })),
      )
      .execute();
  }
}

export async function findNode(db: Transaction<Database>, account: string, pool: string, id: string) {
  const r = await db
    .selectFrom('nodes')
    .select('doc')
    .where('account_key', '=', caseKey(account))
    .where('pool_key', '=', caseKey(pool))
    .where('id_key', '=', caseKey(id))
    .executeTakeFirst();
  return r === undefined ? undefined : (JSON.parse(r.doc) as NodeRecord);
}

export async function listNodes(
  db: Transaction<Database>,
  account: string,
  pool: string,
): Promise<NodeRecord[]> {
  const rows = await db
    .selectFrom('nodes')
    .select('doc')
    .where('account_key', '=', caseKey(account))
    .where('pool_key', '=', caseKey(pool))
    .orderBy('id_key')
    .execute();
  return rows.map((r) => JSON.parse(r.doc) as NodeRecord);
}

export async function listNodesForHost(
  db: Transaction<Database>,
  hostId: string,
  unassigned: boolean,
): Promise<NodeRecord[]> {
  const rows = await db
    .selectFrom('nodes')
    .select('doc')
    .where((eb) =>
      unassigned
        ? eb.or([eb('host_id', '=', hostId), eb('host_id', 'is', null)])
        : eb('host_id', '=', hostId),
    )
    .execute();
  return rows.map((r) => JSON.parse(r.doc) as NodeRecord);
}

export async function deleteNodes(
  db: Transaction<Database>,
  account: string,
  pool: string,
  ids: string[],
): Promise<void> {
  for (let i = 0; i < ids.length; i += 200) {
    await db
      .deleteFrom('nodes')
      .where('account_key', '=', caseKey(account))
      .where('pool_key', '=', caseKey(pool))
      .where('id_key', 'in', ids.slice(i, i + 200).map(caseKey))
      .execute();
  }
}

/** How many node records the server holds, over every account (each holds or will take a node address). */
export async function countAllNodes(db: Transaction<Database>): Promise<number> {
  const row = await db
    .selectFrom('nodes')
    .select((eb) => eb.fn.countAll<number | bigint>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The node range's subnets hosts hold (ADR 0021). */
export async function listHostSubnets(
  db: Transaction<Database>,
): Promise<{ subnet: string; hostId: string }[]> {
  const rows = await db.selectFrom('host_subnets').select(['subnet', 'host_id']).execute();
  return rows.map((r) => ({ subnet: r.subnet, hostId: r.host_id }));
}

export async function addHostSubnet(
  db: Transaction<Database>,
  subnet: string,
  hostId: string,
): Promise<void> {
  await db.insertInto('host_subnets').values({ subnet, host_id: hostId }).execute();
}
