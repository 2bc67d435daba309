import type { NodeUserAccount } from '../port.ts';
import { NODE_IDS, POOL_AUTO_USER_NAME, SHARED_GROUP_NAME, taskUserName } from '../node-user-ids.ts';

/**
 * The users Lazurite puts in a node's /etc/passwd, /etc/group and /etc/shadow (ADR 0026): the pool-scope
 * auto-user, the 512 task-scope auto-users, the shared folder's group and the pool's user accounts. Only lines for
 * names the image lacks are added (node-prepare.ts writes them into the node layer). Node users (SSH logins) are
 * another module's: this one writes none of their lines and uses none of their ids.
 */
export interface UserLines {
  passwd: string[];
  group: string[];
  shadow: string[];
  /** /etc/sudoers.d/lazurite-accounts: a rule per admin account (empty: no file). */
  sudoers: string[];
}

/** Days since the epoch, as shadow's "last change" field wants (fixed: the layer's content must not vary). */
const LAST_CHANGE = '19000';

/** The lines for `accounts` and the auto-users; `has(file, name)` says whether the image already names one. */
export function userLines(
  accounts: NodeUserAccount[],
  has: (file: 'passwd' | 'group' | 'shadow', name: string) => boolean,
): UserLines {
  const out: UserLines = { passwd: [], group: [], shadow: [], sudoers: [] };
  const auto = NODE_IDS.poolAutoUser;
  const { first, last }: { first: number; last: number } = NODE_IDS.taskUsers;
  const tasks = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  const members = [POOL_AUTO_USER_NAME, ...tasks.map(taskUserName), ...accounts.map((a) => a.name)];
  const user = (name: string, uid: number, gid: number, home: string, hash: string) => {
    if (!has('passwd', name)) out.passwd.push(`${name}:x:${String(uid)}:${String(gid)}::${home}:/bin/sh`);
    if (!has('shadow', name)) out.shadow.push(`${name}:${hash}:${LAST_CHANGE}:0:99999:7:::`);
  };
  const group = (name: string, gid: number, list: string[] = []) => {
    if (!has('group', name)) out.group.push(`${name}:x:${String(gid)}:${list.join(',')}`);
  };
  user(POOL_AUTO_USER_NAME, auto, auto, `/home/${POOL_AUTO_USER_NAME}`, '!');
  group(POOL_AUTO_USER_NAME, auto);
  group(SHARED_GROUP_NAME, NODE_IDS.sharedGroup, members);
  for (const uid of tasks) {
    user(taskUserName(uid), uid, uid, '/nonexistent', '!');
    group(taskUserName(uid), uid);
  }
  const gids = new Set<number>([auto, NODE_IDS.sharedGroup]);
  for (const a of accounts) {
    user(a.name, a.uid, a.gid, `/home/${a.name}`, a.passwordHash);
    // The first account with a gid gets a group of its name with that gid (as useradd's user private group).
    if (!gids.has(a.gid)) group(a.name, a.gid);
    gids.add(a.gid);
    if (a.admin) out.sudoers.push(`${a.name} ALL=(ALL) NOPASSWD:ALL`);
  }
  return out;
}

/** The supplementary groups of a run's user: the shared folder's group (enter-node's GROUPS field). */
export const RUN_GROUPS = [NODE_IDS.sharedGroup];

/**
 * enter-node's USER field (enter-node.c): `0` for the node's root, else `UID:GID:GROUPS:NNP`; no_new_privs for
 * every user but an admin account.
 */
export function runUserField(user: { uid: number; gid: number; nnp: boolean } | 'root'): string {
  if (user === 'root') return '0';
  return `${String(user.uid)}:${String(user.gid)}:${RUN_GROUPS.join(',')}:${user.nnp ? '1' : '0'}`;
}
