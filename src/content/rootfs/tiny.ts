import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const BUSYBOX = '/bin/busybox';

/**
 * Builds the tiny Linux root file system (`lazurite/tiny/busybox`) from Debian's statically linked busybox:
 * a few MB, built in well under a second, enough for start tasks and tasks that use a POSIX shell.
 */
export async function buildTinyRootfs(dest: string, busybox = BUSYBOX): Promise<void> {
  let applets: string[];
  try {
    applets = (await run(busybox, ['--list'])).stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a));
  } catch {
    throw new Error(
      `${busybox} is missing or not runnable: install Debian's busybox-static (apt-get install busybox-static)`,
    );
  }
  for (const dir of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc',
    'root',
    'home',
    'tmp',
    'proc',
    'sys',
    'dev',
    'run',
    'var/log',
    'var/tmp',
    'mnt',
  ]) {
    await mkdir(join(dest, dir), { recursive: true });
  }
  await chmod(join(dest, 'tmp'), 0o1777);
  await chmod(join(dest, 'var/tmp'), 0o1777);
  await chmod(join(dest, 'root'), 0o700);
  await copyFile(busybox, join(dest, 'bin', 'busybox'));
  await chmod(join(dest, 'bin', 'busybox'), 0o755);
  for (const applet of applets) {
    if (applet === 'busybox') continue;
    await symlink('busybox', join(dest, 'bin', applet)).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
  }
  const files: Record<string, string> = {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    'etc/group': 'root:x:0:\nusers:x:100:\nnogroup:x:65534:\n',
    'etc/shadow': 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n',
    'etc/hostname': 'lazurite-tiny\n',
    'etc/hosts': '127.0.0.1\tlocalhost\n::1\tlocalhost\n',
    'etc/os-release':
      'NAME="Lazurite Tiny"\nID=lazurite-tiny\nVERSION_ID=1\nPRETTY_NAME="Lazurite Tiny (busybox)"\n',
    'etc/profile': 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n',
  };
  for (const [path, content] of Object.entries(files)) await writeFile(join(dest, path), content);
  await chmod(join(dest, 'etc/shadow'), 0o640);
  if (!applets.includes('printenv')) {
    // Debian's busybox-static has no printenv applet; Batch start tasks commonly use it.
    await writeFile(join(dest, 'usr/bin/printenv'), PRINTENV, { mode: 0o755 });
  }
}

/** POSIX printenv: all variables, or the values of the named ones (exit 1 if any is unset). */
const PRINTENV = [
  '#!/bin/sh',
  '[ $# -eq 0 ] && exec env',
  'rc=0',
  'for name; do',
  "  case $name in ''|*[!A-Za-z0-9_]*|[0-9]*) rc=1; continue ;; esac",
  '  eval "set_=\\${$name+x}"',
  '  if [ -n "$set_" ]; then eval "printf \'%s\\\\n\' \\"\\$$name\\""; else rc=1; fi',
  'done',
  'exit $rc',
  '',
].join('\n');
