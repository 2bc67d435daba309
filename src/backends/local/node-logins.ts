import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { LoginProcess, LoginSession } from '../../domain/pools/node-logins.ts';
import type { NodeUserRecord } from '../../domain/records.ts';
import { NODE_ROOT_DIR, type NodeExecutor } from '../port.ts';

/**
 * Writes a node's users (ADR 0027) into the node, as its root: a line each in /etc/passwd and /etc/group (uid =
 * gid, 40000–49999), /etc/shadow (the SHA-512 crypt, `*` without a password; the expiry day), a 0700 home folder
 * with `.ssh/authorized_keys`. Lines of node users no longer listed are removed; the image's own accounts (and
 * pool user accounts, which use other ids) are left as they are. Idempotent: the gateway runs it again before
 * each login, so a reimaged node gets its users back.
 * The data travels in the environment of the process (never on a host argv); the script only splits it.
 */
const SCRIPT = `set -eu
rm -f "$LZ_LOG"
umask 077
[ -e /etc/shadow ] || : > /etc/shadow
sh=/bin/sh; [ -x /bin/bash ] && sh=/bin/bash
LZ_DROP=$(awk -F: '$3 >= 40000 && $3 <= 49999 { print $1 }' /etc/passwd)
export LZ_DROP
t=/etc/.lazurite-users.$$
awk -F: '!($3 >= 40000 && $3 <= 49999)' /etc/passwd > $t.p
awk -F: '!($3 >= 40000 && $3 <= 49999)' /etc/group > $t.g
awk -F: 'BEGIN { n = split(ENVIRON["LZ_DROP"], a, "\\n"); for (i = 1; i <= n; i++) d[a[i]] = 1 } !($1 in d)' /etc/shadow > $t.s
printf '%s\\n' "$LZ_USERS" | while read -r name uid hash expire key; do
  [ -n "$name" ] || continue
  printf '%s:x:%s:%s::/home/%s:%s\\n' "$name" "$uid" "$uid" "$name" "$sh" >> $t.p
  printf '%s:x:%s:\\n' "$name" "$uid" >> $t.g
  printf '%s:%s:%s:0:99999:7::%s:\\n' "$name" "$hash" "$LZ_TODAY" "$expire" >> $t.s
  mkdir -p /home/$name/.ssh
  printf '%s\\n' "$key" > /home/$name/.ssh/authorized_keys
  chown -R "$uid:$uid" /home/$name
  chmod 700 /home/$name /home/$name/.ssh
done
chmod 644 $t.p $t.g
chmod 600 $t.s
cat $t.p > /etc/passwd
cat $t.g > /etc/group
cat $t.s > /etc/shadow
rm -f $t.p $t.g $t.s
`;

const DAY_MS = 86_400_000;
const LOG = '.node-users.log';

/** One user as the script's line: name uid hash expire-day key (the key last: it holds spaces). */
function userLine(u: NodeUserRecord): string {
  const expireDay = Math.ceil(Date.parse(u.expiryTime) / DAY_MS);
  return [u.name, String(u.uid), u.passwordHash ?? '*', String(expireDay), u.sshPublicKey ?? ''].join(' ');
}

/** Writes `users` into the node's account files through the executor (a process as the node's root). */
export async function writeNodeUsers(
  executor: Pick<NodeExecutor, 'exec'>,
  nodeId: string,
  users: NodeUserRecord[],
  now: Date,
): Promise<void> {
  for (const u of users)
    if (/[\s:]/.test(u.name) || /[\s:]/.test(u.passwordHash ?? '') || /\n/.test(u.sshPublicKey ?? ''))
      throw new Error(`node user ${u.name} cannot be written to the node's account files`);
  const result = await executor.exec(nodeId, {
    commandLine: SCRIPT,
    environment: {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      LZ_USERS: users.map(userLine).join('\n'),
      LZ_TODAY: String(Math.floor(now.getTime() / DAY_MS)),
      // The process's own output file, unlinked at once (it writes into the open file): no trace in the node's files.
      LZ_LOG: `${NODE_ROOT_DIR}/${LOG}`,
    },
    elevation: 'admin',
    workingDir: '/',
    stdoutFile: LOG,
    stderrFile: LOG,
    timeoutMs: 30_000,
  });
  if (result.exitCode !== 0)
    throw new Error(`writing the node users of ${nodeId} failed (exit ${String(result.exitCode)})`);
}

/** Where a session enters a node: enter-node's `login` mode needs the node's holder and cgroups. */
export interface LoginPlace {
  helper: string;
  holderPid: number;
  nodeId: string;
  nodeProcs: string[];
  dropCaps: string;
}

/**
 * Starts a session's process in the node as the user (enter-node `login`, node-login.h). stdin/stdout/stderr are
 * the session's streams; fd 3 carries the command (hex, never on a host argv) and then window sizes (`resize`).
 */
export function spawnLogin(place: LoginPlace, session: LoginSession): LoginProcess {
  const pty = session.pty;
  const term = pty?.term.replace(/[^A-Za-z0-9._+-]/g, '') || 'xterm';
  const child = spawn(
    place.helper,
    [
      'login',
      String(place.holderPid),
      place.nodeId,
      place.dropCaps,
      place.nodeProcs.join('\n'),
      String(session.uid),
      session.name,
      '-',
      pty ? '1' : '0',
      term,
      String(pty?.rows ?? 0),
      String(pty?.cols ?? 0),
    ],
    { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: {} },
  );
  const control = child.stdio[3] as Writable;
  control.on('error', () => undefined);
  control.write(`${Buffer.from(session.command, 'utf8').toString('hex')}\n`);
  return {
    child,
    resize: (rows, cols) => {
      if (!control.destroyed) control.write(`${String(Math.trunc(rows))} ${String(Math.trunc(cols))}\n`);
    },
  };
}
