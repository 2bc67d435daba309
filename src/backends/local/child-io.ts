import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * The host side's long-lived helper processes (the launcher shell, each node's runner) report in lines on
 * stdout and should keep the server's event loop alive only while someone waits for them.
 */

/** Calls `onLine` with each newline-terminated line of `stream` (without the newline). */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buffer += d;
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      onLine(line);
    }
  });
}

/** Refs the child and its pipes while `hold` (someone waits for it), unrefs them otherwise. */
export function holdEventLoop(child: ChildProcessWithoutNullStreams, hold: boolean): void {
  for (const s of [child.stdin, child.stdout, child.stderr] as unknown as Socket[]) {
    if (hold) s.ref();
    else s.unref();
  }
  if (hold) child.ref();
  else child.unref();
}
