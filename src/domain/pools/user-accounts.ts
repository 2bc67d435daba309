import { encrypt } from 'unixcrypt';
import type { RunUser } from '../../protocol/agent-protocol.ts';
import { NODE_IDS, reservedIdReason } from '../../backends/node-user-ids.ts';
import type { NodeUserAccount } from '../../backends/port.ts';
import type { PoolRecord } from '../../storage/records.ts';
import { invalidProperty, missingProperty, unsupportedProperty } from './pool-spec.ts';

/**
 * Pool user accounts (`userAccounts`) and the user a task runs as (`userIdentity`), ADR 0026. Passwords are
 * write-only: a pool add keeps each as a SHA-512 crypt hash (`$6$`, unixcrypt) in the pool record beside the spec,
 * sealed at rest by the store, and the spec itself keeps no password; GET never shows one.
 */

const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Characters a name cannot hold in /etc/passwd, a path or a shell word, and names the node already has. */
const BAD_NAME = /[\s:,/\\"'`$;&|<>()*?![\]{}#~=]|\p{Cc}/u;
const RESERVED_NAMES = new Set(['root', '_azbatch', '_azbatchgrp', 'nobody']);

function checkName(name: unknown, at: string): string {
  if (typeof name !== 'string' || name === '') throw missingProperty(`${at}.name`);
  if (Array.from(name).length > 20)
    throw invalidProperty(`${at}.name`, 'A user account name is at most 20 characters.');
  if (BAD_NAME.test(name) || name.startsWith('-') || name.startsWith('.'))
    throw invalidProperty(
      `${at}.name`,
      `The user account name '${name}' holds a character a Linux user name cannot have.`,
    );
  if (RESERVED_NAMES.has(name.toLowerCase()) || name.toLowerCase().startsWith('_azbatch'))
    throw invalidProperty(`${at}.name`, `The user account name '${name}' is reserved on Batch nodes.`);
  return name;
}

function checkIds(linux: Record<string, unknown>, at: string): void {
  if ((linux.uid === undefined) !== (linux.gid === undefined))
    throw invalidProperty(
      `${at}.linuxUserConfiguration`,
      'The uid and gid properties must be specified together or not at all.',
    );
  for (const k of ['uid', 'gid'] as const) {
    if (linux[k] === undefined) continue;
    const reason = reservedIdReason(Number(linux[k]));
    if (typeof linux[k] !== 'number' || reason !== undefined)
      throw invalidProperty(`${at}.linuxUserConfiguration.${k}`, `The ${k} ${reason ?? 'must be a number'}.`);
  }
  if (linux.sshPrivateKey !== undefined && linux.sshPrivateKey !== null)
    throw unsupportedProperty(
      `${at}.linuxUserConfiguration.sshPrivateKey`,
      'sshPrivateKey (SSH between the nodes of a pool with enableInterNodeCommunication) is not supported by this server; multi-instance tasks coordinate through their coordination command line (ADR 0038).',
    );
}

/** Checks a pool's `userAccounts` as Batch does: names, passwords, elevation, ids; no name or uid twice. */
export function checkUserAccounts(value: unknown): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw invalidProperty('userAccounts', 'userAccounts must be a list.');
  const names = new Set<string>();
  const uids = new Set<number>();
  for (const [i, raw] of (value as unknown[]).entries()) {
    const at = `userAccounts[${String(i)}]`;
    const a = obj(raw);
    const name = checkName(a.name, at);
    if (names.has(name.toLowerCase()))
      throw invalidProperty(`${at}.name`, `The user account name '${name}' appears more than once.`);
    names.add(name.toLowerCase());
    if (typeof a.password !== 'string' || a.password === '') throw missingProperty(`${at}.password`);
    const level = a.elevationLevel;
    if (level !== undefined && !(typeof level === 'string' && /^(nonadmin|admin)$/i.test(level)))
      throw invalidProperty(`${at}.elevationLevel`, "elevationLevel is 'nonadmin' or 'admin'.");
    if (a.windowsUserConfiguration !== undefined && a.windowsUserConfiguration !== null)
      throw invalidProperty(
        `${at}.windowsUserConfiguration`,
        'windowsUserConfiguration can only be specified for a Windows pool.',
      );
    const linux = obj(a.linuxUserConfiguration);
    checkIds(linux, at);
    if (typeof linux.uid === 'number') {
      if (uids.has(linux.uid))
        throw invalidProperty(
          `${at}.linuxUserConfiguration.uid`,
          `The uid ${String(linux.uid)} is given to another user account.`,
        );
      uids.add(linux.uid);
    }
  }
}

/** The pool's accounts as the spec keeps them (no password) and their hashes by name, for a pool add. */
export function sealAccountsOf(spec: Record<string, unknown>): {
  spec: Record<string, unknown>;
  passwordHashes?: Record<string, string>;
} {
  if (!Array.isArray(spec.userAccounts) || spec.userAccounts.length === 0) return { spec };
  const passwordHashes: Record<string, string> = {};
  const accounts = (spec.userAccounts as unknown[]).map((raw) => {
    const { password, ...rest } = obj(raw);
    passwordHashes[String(rest.name)] = encrypt(String(password));
    return rest;
  });
  return { spec: { ...spec, userAccounts: accounts }, passwordHashes };
}

/** The pool's accounts with their ids: given ones, else uid = gid from 30001 on in list order (ADR 0026). */
export function nodeUserAccounts(pool: PoolRecord): NodeUserAccount[] {
  const list = (Array.isArray(pool.spec.userAccounts) ? pool.spec.userAccounts : []).map(obj);
  const given = new Set(list.map((a) => Number(obj(a.linuxUserConfiguration).uid)));
  let next: number = NODE_IDS.accounts.first;
  return list.map((a) => {
    const linux = obj(a.linuxUserConfiguration);
    let uid = Number(linux.uid);
    let gid = Number(linux.gid);
    if (!Number.isInteger(uid)) {
      while (given.has(next)) next++;
      uid = gid = next++;
    }
    const name = String(a.name);
    return {
      name,
      uid,
      gid,
      passwordHash: pool.passwordHashes?.[name] ?? '!',
      admin: typeof a.elevationLevel === 'string' && a.elevationLevel.toLowerCase() === 'admin',
    };
  });
}

/** The names of a pool's accounts (lower-cased: Batch names are case-insensitive). */
export function accountNames(spec: Record<string, unknown>): Set<string> {
  const list = Array.isArray(spec.userAccounts) ? (spec.userAccounts as unknown[]) : [];
  return new Set(list.map((a) => String(obj(a).name).toLowerCase()));
}

/**
 * Checks a task's `userIdentity` (`property` names the task in the body): userName and autoUser not both; a
 * userName must be one of `names` (the pool's accounts) when the pool is known. Batch documents no code of its
 * own for a user name the pool lacks: this is its InvalidPropertyValue naming the property (ADR 0026).
 */
export function checkUserIdentity(task: unknown, property: string, names: Set<string> | undefined): void {
  const identity = obj(obj(task).userIdentity);
  const at = property === '' ? 'userIdentity' : `${property}.userIdentity`;
  const userName = identity.username ?? identity.userName;
  if (userName === undefined || userName === null) return;
  if (identity.autoUser !== undefined && identity.autoUser !== null)
    throw invalidProperty(at, 'The userName and autoUser properties are mutually exclusive.');
  if (typeof userName !== 'string' || userName === '') throw missingProperty(`${at}.userName`);
  if (names !== undefined && !names.has(userName.toLowerCase()))
    throw invalidProperty(
      `${at}.userName`,
      `The user '${userName}' is not one of the pool's user accounts (userAccounts).`,
    );
}

/** Whom a task (or start task) runs as on a node of `pool`, and the AZ_BATCH_TASK_USER* values it sees. */
export interface RunAs {
  elevation: 'admin' | 'nonadmin';
  user?: RunUser;
  envUser: string;
  envIdentity: string;
}

/**
 * The run-as of a task body: a named account (found case-insensitively among the pool's; one the pool lacks runs
 * as nobody: uid 0 for a non-root user, which the node refuses, so the run fails), an auto-user of task scope (a
 * user of its own on the node) or pool scope (`_azbatch`), admin elevation being the node's root.
 */
export function runAsOf(task: Record<string, unknown>, pool: PoolRecord): RunAs {
  const identity = obj(task.userIdentity);
  const userName = identity.username ?? identity.userName;
  if (typeof userName === 'string' && userName !== '') {
    const a = nodeUserAccounts(pool).find((x) => x.name.toLowerCase() === userName.toLowerCase());
    const user = a ?? { name: userName, uid: 0, gid: 0, admin: false };
    return {
      elevation: user.admin ? 'admin' : 'nonadmin',
      user: { kind: 'account', name: user.name, uid: user.uid, gid: user.gid, admin: user.admin },
      envUser: user.name,
      envIdentity: user.name,
    };
  }
  const auto = obj(identity.autoUser);
  const level = auto.elevationLevel;
  const admin = typeof level === 'string' ? level.toLowerCase() === 'admin' : task.runElevated === true;
  const taskScope = typeof auto.scope === 'string' && auto.scope.toLowerCase() === 'task';
  const identityName = `${taskScope ? 'Task' : 'Pool'}${admin ? 'Admin' : 'NonAdmin'}`;
  if (admin) return { elevation: 'admin', envUser: 'root', envIdentity: identityName };
  if (taskScope)
    return { elevation: 'nonadmin', user: { kind: 'task' }, envUser: '_azbatch', envIdentity: identityName };
  return { elevation: 'nonadmin', envUser: '_azbatch', envIdentity: identityName };
}
