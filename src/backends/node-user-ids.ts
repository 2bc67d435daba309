/**
 * The user and group ids inside a node (ADR 0026). Every node has its own 65536 ids (ADR 0020), so these are
 * node ids, never host ones; the ranges below are what Lazurite itself hands out.
 */
export const NODE_IDS = {
  /** The pool-scope auto-user `_azbatch` and its group. */
  poolAutoUser: 1000,
  /** `_azbatchgrp`: the group of the node's shared folder; every auto-user and pool account is a member. */
  sharedGroup: 20000,
  /** Task-scope auto-users `_azbatchtask_<k>`: uid (and own group) 20000 + k, k = 1..512, one per running task. */
  taskUsers: { first: 20001, last: 20512 },
  /** Pool accounts without linuxUserConfiguration get uid = gid from here, in the order of userAccounts. */
  accounts: { first: 30001, last: 39999 },
  /** Node users (ComputeNode_AddUser, SSH logins): another module's range, never given to accounts. */
  nodeUsers: { first: 40000, last: 49999 },
  /** The ids a pool account may be given: not the image's system ids, not 65534 (nobody) nor 65535 (invalid). */
  lowest: 1000,
  highest: 65533,
} as const;

export const POOL_AUTO_USER_NAME = '_azbatch';
export const SHARED_GROUP_NAME = '_azbatchgrp';
export const taskUserName = (uid: number): string =>
  `_azbatchtask_${String(uid - NODE_IDS.taskUsers.first + 1)}`;

/** Why a uid or gid cannot be a pool account's (undefined: it can). */
export function reservedIdReason(id: number): string | undefined {
  if (!Number.isInteger(id) || id < NODE_IDS.lowest || id > NODE_IDS.highest)
    return `must be between ${String(NODE_IDS.lowest)} and ${String(NODE_IDS.highest)}`;
  if (id === NODE_IDS.poolAutoUser) return `${String(id)} is the pool auto-user's`;
  if (id >= NODE_IDS.sharedGroup && id <= NODE_IDS.taskUsers.last)
    return `${String(NODE_IDS.sharedGroup)}-${String(NODE_IDS.taskUsers.last)} are the auto-users'`;
  if (id >= NODE_IDS.nodeUsers.first && id <= NODE_IDS.nodeUsers.last)
    return `${String(NODE_IDS.nodeUsers.first)}-${String(NODE_IDS.nodeUsers.last)} are the node users'`;
  return undefined;
}
