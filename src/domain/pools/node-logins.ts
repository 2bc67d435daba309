import type { ChildProcess } from 'node:child_process';

/**
 * The port between the SSH gateway (`api/ssh`) and the backend that runs a node (ADR 0027): a running node's
 * entrance starts a session's process in it as the node user. `backends/local/node-logins.ts` implements it for
 * the in-process local backend; the composition (`app/remote-login-runtime.ts`) hands the gateway the entrances.
 */

/** One session: a terminal (with its type and size) or not, and a command ('' = a login shell). */
export interface LoginSession {
  uid: number;
  name: string;
  pty?: { term: string; rows: number; cols: number };
  command: string;
}

/** A session's process: its stdin/stdout/stderr are the session's streams; `resize` passes window changes. */
export interface LoginProcess {
  child: ChildProcess;
  resize: (rows: number, cols: number) => void;
}

/** Where sessions enter one running node. */
export interface NodeEntrance {
  spawn(session: LoginSession): LoginProcess;
}
