import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import { encrypt, verify } from 'unixcrypt';
import type { StoreTx } from '../../storage/port.ts';
import type {
  BatchAccountRecord,
  NodeRecord,
  NodeState,
  NodeUserRecord,
  PoolRecord,
} from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { nodeNotFound } from './nodes.ts';
import { invalidProperty, missingProperty } from './pool-spec.ts';
import { poolNotFound } from './pools.ts';

/** Node users' uids (and their own group's gid) in the node's user namespace (ADR 0027). */
export const NODE_USER_UIDS = { first: 40000, last: 49999 } as const;
/** Batch's default expiry: one day from now. */
const DEFAULT_EXPIRY_MS = 24 * 3600_000;
/** Linux user names: what `useradd` takes by default, at most 32 characters. */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/i;
/** Names the node's own accounts hold (the image's, and Batch's auto-user). */
const RESERVED_NAMES = new Set(['root', '_azbatch', 'daemon', 'bin', 'sys', 'nobody', 'sshd']);
/** Node states whose agent takes user changes. */
const TAKES_USERS: readonly NodeState[] = ['idle', 'running', 'starttaskfailed', 'waitingforstarttask'];
const BUSY: Partial<Record<NodeState, string>> = {
  creating: 'NodeBeingCreated',
  starting: 'NodeBeingStarted',
  rebooting: 'NodeBeingRebooted',
  reimaging: 'NodeBeingReimaged',
  unusable: 'NodeStateUnusable',
};

/** What a user add or update asks for (wire names of ComputeNodeUser / NodeUpdateUserParameter). */
export interface NodeUserInput {
  name?: unknown;
  isAdmin?: unknown;
  expiryTime?: unknown;
  password?: unknown;
  sshPublicKey?: unknown;
}

/** Writes a node's users into the node (its passwd, group and shadow files, home folders, keys). */
export type NodeUserSync = (node: NodeRecord) => Promise<void>;
/** The sync of the host that runs a node, when that host can take it (the in-process local host). */
export type NodeUserSyncLookup = (hostId: string) => NodeUserSync | undefined;

function userNotFound(name: string): DomainError {
  return new DomainError('not-found', 'NodeUserNotFound', 'The specified node user does not exist.', {
    values: { UserName: name },
  });
}

function notTakingUsers(node: NodeRecord): DomainError {
  const code = BUSY[node.state] ?? 'OperationNotValidOnNode';
  return new DomainError(
    'conflict',
    code,
    `Node '${node.id}' is ${node.state}; users can be changed on idle, running or starttaskfailed nodes.`,
    { values: { NodeId: node.id, NodeState: node.state } },
  );
}

function optionalString(value: unknown, property: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidProperty(property, `${property} must be a string.`);
  return value;
}

/** `expiryTime`: an ISO 8601 time; omitted, one day from now. */
function expiryOf(value: unknown, now: Date): string {
  const text = optionalString(value, 'expiryTime');
  if (text === undefined) return new Date(now.getTime() + DEFAULT_EXPIRY_MS).toISOString();
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw invalidProperty('expiryTime', `'${text}' is not an ISO 8601 time.`);
  return new Date(at).toISOString();
}

/** An OpenSSH public key line (`ssh-ed25519 AAAA… comment`), checked by parsing it. */
function publicKeyOf(value: unknown): string | undefined {
  const key = optionalString(value, 'sshPublicKey')?.trim();
  if (key === undefined || key === '') return undefined;
  const parsed = key.includes('\n') ? undefined : ssh2.utils.parseKey(key);
  if (parsed === undefined || parsed instanceof Error || Array.isArray(parsed) || parsed.isPrivateKey())
    throw invalidProperty('sshPublicKey', 'sshPublicKey must be one OpenSSH public key line.');
  return key;
}

/** The password as its SHA-512 crypt (the form /etc/shadow holds); the password itself is not kept. */
function passwordHashOf(value: unknown): string | undefined {
  const password = optionalString(value, 'password');
  if (password === undefined || password === '') return undefined;
  if (password.length > 256 || /[\0\n]/.test(password))
    throw invalidProperty(
      'password',
      'The password must be at most 256 characters, without NUL or newlines.',
    );
  return encrypt(password);
}

/** The lowest free node-user uid of a node. */
function freeUid(users: NodeUserRecord[]): number {
  const taken = new Set(users.map((u) => u.uid));
  for (let uid: number = NODE_USER_UIDS.first; uid <= NODE_USER_UIDS.last; uid++)
    if (!taken.has(uid)) return uid;
  throw new DomainError('conflict', 'OperationNotValidOnNode', 'The node has no free user ids left.');
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** How a login presents itself: a password, or a public key (its blob) the client proved it holds. */
export type LoginProof = { kind: 'password'; password: string } | { kind: 'publickey'; blob: Buffer };

/** Whether a user's password or key matches and the account has not expired at `now`. */
export function userAccepts(user: NodeUserRecord, proof: LoginProof, now: Date): boolean {
  if (Date.parse(user.expiryTime) <= now.getTime()) return false;
  if (proof.kind === 'password')
    return user.passwordHash !== undefined && verify(proof.password, user.passwordHash);
  if (user.sshPublicKey === undefined) return false;
  const key = ssh2.utils.parseKey(user.sshPublicKey);
  if (key instanceof Error || Array.isArray(key)) return false;
  const mine = key.getPublicSSH();
  return mine.length === proof.blob.length && timingSafeEqual(mine, proof.blob);
}

/** Node users (ComputeNode_AddUser, UpdateUser, DeleteUser): kept in the node record, written into the node. */
export class NodeUserService {
  private readonly ctx: DomainContext;
  private readonly syncFor: NodeUserSyncLookup;

  constructor(ctx: DomainContext, syncFor: NodeUserSyncLookup) {
    this.ctx = ctx;
    this.syncFor = syncFor;
  }

  private async requireNode(tx: StoreTx, account: string, poolId: string, nodeId: string) {
    const pool = await tx.findPool(account, poolId);
    if (!pool) throw poolNotFound(poolId);
    const node = await tx.findNode(account, poolId, nodeId);
    if (!node) throw nodeNotFound(nodeId);
    return { pool, node };
  }

  /** Changes a node's users in one transaction, then writes them into the node. */
  private async change(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    edit: (users: NodeUserRecord[], now: Date) => NodeUserRecord[],
  ): Promise<void> {
    const node = await this.ctx.store.transaction(async (tx) => {
      const found = await this.requireNode(tx, account.name, poolId, nodeId);
      if (!TAKES_USERS.includes(found.node.state)) throw notTakingUsers(found.node);
      const next: NodeRecord = { ...found.node, users: edit(found.node.users ?? [], this.ctx.clock.now()) };
      await tx.putNodes([next]);
      return next;
    });
    const sync = node.hostId === null ? undefined : this.syncFor(node.hostId);
    await sync?.(node);
  }

  add(account: BatchAccountRecord, poolId: string, nodeId: string, body: NodeUserInput): Promise<void> {
    const name = optionalString(body.name, 'name');
    if (name === undefined || name === '') throw missingProperty('name');
    if (!USER_NAME.test(name) || RESERVED_NAMES.has(name.toLowerCase()))
      throw invalidProperty('name', `'${name}' is not a user name a node can take.`);
    if (body.isAdmin !== undefined && body.isAdmin !== null && typeof body.isAdmin !== 'boolean')
      throw invalidProperty('isAdmin', 'isAdmin must be a boolean.');
    const sshPublicKey = publicKeyOf(body.sshPublicKey);
    const passwordHash = passwordHashOf(body.password);
    return this.change(account, poolId, nodeId, (users, now) => {
      if (users.some((u) => sameName(u.name, name)))
        throw new DomainError('conflict', 'NodeUserExists', 'The specified node user already exists.', {
          values: { UserName: name },
        });
      const user: NodeUserRecord = {
        name,
        uid: freeUid(users),
        isAdmin: body.isAdmin === true,
        expiryTime: expiryOf(body.expiryTime, now),
        ...(passwordHash === undefined ? {} : { passwordHash }),
        ...(sshPublicKey === undefined ? {} : { sshPublicKey }),
      };
      return [...users, user];
    });
  }

  /** PUT replaces password, key and expiry: an omitted password or key is removed, expiry goes to its default. */
  update(account: BatchAccountRecord, poolId: string, nodeId: string, name: string, body: NodeUserInput) {
    const sshPublicKey = publicKeyOf(body.sshPublicKey);
    const passwordHash = passwordHashOf(body.password);
    return this.change(account, poolId, nodeId, (users, now) => {
      const old = users.find((u) => sameName(u.name, name));
      if (!old) throw userNotFound(name);
      const user: NodeUserRecord = {
        name: old.name,
        uid: old.uid,
        isAdmin: old.isAdmin,
        expiryTime: expiryOf(body.expiryTime, now),
        ...(passwordHash === undefined ? {} : { passwordHash }),
        ...(sshPublicKey === undefined ? {} : { sshPublicKey }),
      };
      return users.map((u) => (u === old ? user : u));
    });
  }

  delete(account: BatchAccountRecord, poolId: string, nodeId: string, name: string): Promise<void> {
    return this.change(account, poolId, nodeId, (users) => {
      if (!users.some((u) => sameName(u.name, name))) throw userNotFound(name);
      return users.filter((u) => !sameName(u.name, name));
    });
  }

  /**
   * A login attempt (the remote-login gateway, ADR 0027): the node (when it still exists and is in a state that
   * runs), its pool and the user, when the user exists, has not expired and the proof matches; else undefined.
   */
  async login(
    accountName: string,
    poolId: string,
    nodeId: string,
    userName: string,
    proof: LoginProof,
  ): Promise<{ pool: PoolRecord; node: NodeRecord; user: NodeUserRecord } | undefined> {
    const found = await this.ctx.store.transaction(async (tx) => {
      const pool = await tx.findPool(accountName, poolId);
      const node = pool && (await tx.findNode(accountName, poolId, nodeId));
      return pool && node ? { pool, node } : undefined;
    });
    if (!found || !TAKES_USERS.includes(found.node.state)) return undefined;
    const user = (found.node.users ?? []).find((u) => u.name === userName);
    if (!user || !userAccepts(user, proof, this.ctx.clock.now())) return undefined;
    return { ...found, user };
  }

  /**
   * The pool and node of a remote-login settings request: the node must exist and be in a state that runs.
   * `here` says whether this server can enter the node (else Batch's 409 with why).
   */
  remoteLoginTarget(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    here: (node: NodeRecord) => string | undefined,
  ): Promise<{ pool: PoolRecord; node: NodeRecord }> {
    return this.ctx.store.transaction(async (tx) => {
      const found = await this.requireNode(tx, account.name, poolId, nodeId);
      if (!TAKES_USERS.includes(found.node.state)) throw notTakingUsers(found.node);
      const why = here(found.node);
      if (why !== undefined)
        throw new DomainError('conflict', 'OperationNotValidOnNode', why, { values: { NodeId: nodeId } });
      return found;
    });
  }

  findPool(accountName: string, poolId: string): Promise<PoolRecord | undefined> {
    return this.ctx.store.transaction((tx) => tx.findPool(accountName, poolId));
  }

  /** The node's record now (for the gateway: is it still there). */
  findNode(accountName: string, poolId: string, nodeId: string): Promise<NodeRecord | undefined> {
    return this.ctx.store.transaction((tx) => tx.findNode(accountName, poolId, nodeId));
  }
}
