import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import ssh2, {
  type AuthContext,
  type Connection,
  type Server as SshServer,
  type ServerChannel,
  type Session,
} from 'ssh2';
import { connectionAllowed, remoteLoginEndpoint } from '../../domain/pools/endpoint-config.ts';
import type { LoginSession, NodeEntrance } from '../../domain/pools/node-logins.ts';
import type { LoginProof, NodeUserService } from '../../domain/pools/node-users.ts';
import type { NodeRecord, NodeUserRecord, PoolRecord } from '../../domain/records.ts';
import type { Logger } from '../../platform/logger.ts';
import type { FailureThrottle } from '../../platform/throttle.ts';

/** A node's entrance on this host, for sessions (the local executor's), and the writing of its users. */
export interface RemoteLoginHost {
  /** Whether this server's host runs the node (sessions enter only nodes of the in-process local backend). */
  runsHere(node: NodeRecord): boolean;
  /** The running node's entrance, or undefined when it does not run here. */
  place(node: NodeRecord): Promise<NodeEntrance | undefined>;
  writeUsers(node: NodeRecord): Promise<void>;
}

export interface RemoteLoginOptions {
  users: Pick<NodeUserService, 'login' | 'findNode' | 'findPool'>;
  host: RemoteLoginHost;
  /** The address the listeners bind (the server's --host) and the one clients are given. */
  listenHost: string;
  publicAddress: string;
  /** Ports for nodes whose pool has no remote-login NAT pool (LAZURITE_REMOTE_LOGIN_PORTS). */
  defaultPorts: { first: number; last: number };
  hostKeyPath: string;
  logger: Logger;
  /** Failed logins per client address and node user (ADR 0024's throttle): past the burst, attempts fail unchecked. */
  throttle: FailureThrottle;
}

/** Calls a request's accept or reject callback when the client asked for a reply. */
function answer(callback: unknown): void {
  if (typeof callback === 'function') (callback as () => void)();
}

/** Ends a session channel with the process's status (ssh2 sends EOF and close once what was written is out). */
function finish(channel: ServerChannel, status: number): void {
  channel.exit(status);
  channel.end();
}

/** Failed authentications a connection may make before it is closed (OpenSSH's MaxAuthTries). */
const MAX_AUTH_TRIES = 6;

interface Listener {
  account: string;
  poolId: string;
  nodeId: string;
  port: number;
  tcp: TcpServer;
  ssh: SshServer;
  /** Open connections, ended when the listener closes (a closing TCP server waits for them otherwise). */
  sockets: Set<Socket>;
}

/** The SSH host key (ed25519, OpenSSH format), 0600 in the data dir, made on first use. */
export function remoteLoginHostKey(path: string): string {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600, flag: 'wx' });
  }
  chmodSync(path, 0o600);
  return readFileSync(path, 'utf8');
}

/**
 * Remote login (ADR 0027): an SSH server (ssh2) in the server process, one listening port per node. A connection
 * is first checked against the pool's network security group rules (a denied source is closed before the SSH
 * banner), then authenticated against the node's users (password or public key, not expired, node still there),
 * then each session channel becomes a process inside the node as that user (enter-node `login`). There is no
 * other channel: no port forwarding, no SFTP subsystem, no agent forwarding, nothing on the host.
 */
export class RemoteLoginGateway {
  private readonly opts: RemoteLoginOptions;
  private readonly hostKey: string;
  private readonly listeners = new Map<string, Promise<Listener>>();
  private readonly usedPorts = new Set<number>();

  constructor(opts: RemoteLoginOptions) {
    this.opts = opts;
    this.hostKey = remoteLoginHostKey(opts.hostKeyPath);
  }

  private static key(account: string, poolId: string, nodeId: string): string {
    return [account, poolId, nodeId].map((s) => s.toLowerCase()).join('/');
  }

  runsHere(node: NodeRecord): boolean {
    return this.opts.host.runsHere(node);
  }

  /** The address and port of a node's login (its listener started on first call). */
  async endpoint(pool: PoolRecord, node: NodeRecord): Promise<{ address: string; port: number }> {
    const key = RemoteLoginGateway.key(node.accountName, pool.id, node.id);
    let listener = this.listeners.get(key);
    if (!listener) {
      listener = this.listen(node.accountName, pool, node.id);
      this.listeners.set(key, listener);
      listener.catch(() => this.listeners.delete(key));
    }
    return { address: this.opts.publicAddress, port: (await listener).port };
  }

  /** Closes the listeners of nodes that no longer exist. */
  async sweep(): Promise<void> {
    for (const [key, pending] of this.listeners) {
      const l = await pending.catch(() => undefined);
      if (l && !(await this.opts.users.findNode(l.account, l.poolId, l.nodeId))) await this.drop(key, l);
    }
  }

  async close(): Promise<void> {
    for (const [key, pending] of this.listeners) {
      const l = await pending.catch(() => undefined);
      if (l) await this.drop(key, l);
    }
  }

  private async drop(key: string, l: Listener): Promise<void> {
    this.listeners.delete(key);
    this.usedPorts.delete(l.port);
    await new Promise<void>((resolve) =>
      l.tcp.close(() => {
        resolve();
      }),
    );
  }

  /** Binds the first free port of the pool's range (its remote-login NAT pool, else the server's). */
  private async listen(account: string, pool: PoolRecord, nodeId: string): Promise<Listener> {
    const range = remoteLoginEndpoint(pool.spec).ports ?? this.opts.defaultPorts;
    const ssh = new ssh2.Server({ hostKeys: [this.hostKey], ident: 'Lazurite' });
    ssh.on('connection', (client, info) => {
      this.serve(client, info.ip, { account, poolId: pool.id, nodeId });
    });
    ssh.on('error', (err: Error) => {
      this.opts.logger.warn({ err: err.message }, 'remote login error');
    });
    const sockets = new Set<Socket>();
    const tcp = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      void this.accept(ssh, socket, account, pool.id);
    });
    for (let port = range.first; port <= range.last; port++) {
      if (this.usedPorts.has(port)) continue;
      const bound = await new Promise<boolean>((resolve) => {
        const onError = () => {
          resolve(false);
        };
        tcp.once('error', onError);
        tcp.listen({ host: this.opts.listenHost, port, exclusive: true }, () => {
          tcp.off('error', onError);
          resolve(true);
        });
      });
      if (!bound) continue;
      this.usedPorts.add(port);
      tcp.on('error', (err) => {
        this.opts.logger.warn({ err: err.message }, 'remote login listener error');
      });
      return { account, poolId: pool.id, nodeId, port, tcp, ssh, sockets };
    }
    throw new Error(`no free port for remote login in ${String(range.first)}-${String(range.last)}`);
  }

  /** The pool's rules decide, per connection, before anything is sent: a denied source is closed at once. */
  private async accept(ssh: SshServer, socket: Socket, account: string, poolId: string): Promise<void> {
    socket.pause();
    socket.on('error', () => undefined);
    const pool = await this.opts.users.findPool(account, poolId).catch(() => undefined);
    const rules = pool ? remoteLoginEndpoint(pool.spec).rules : [];
    if (!pool || !connectionAllowed(rules, socket.remoteAddress ?? '', socket.remotePort ?? 0)) {
      socket.destroy();
      return;
    }
    ssh.injectSocket(socket);
    socket.resume();
  }

  private serve(
    client: Connection,
    ip: string,
    at: { account: string; poolId: string; nodeId: string },
  ): void {
    let failures = 0;
    let login: { node: NodeRecord; user: NodeUserRecord } | undefined;
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      void this.authenticate(ctx, ip, at).then((found) => {
        if (found) {
          login = found;
          ctx.accept();
          return;
        }
        if (ctx.method !== 'none' && ++failures >= MAX_AUTH_TRIES) client.end();
        else ctx.reject(['password', 'publickey']);
      });
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        if (login) this.session(accept(), login);
      });
    });
  }

  private async authenticate(
    ctx: AuthContext,
    ip: string,
    at: { account: string; poolId: string; nodeId: string },
  ): Promise<{ node: NodeRecord; user: NodeUserRecord } | undefined> {
    let proof: LoginProof;
    if (ctx.method === 'password') proof = { kind: 'password', password: ctx.password };
    else if (ctx.method === 'publickey') {
      proof = { kind: 'publickey', blob: ctx.key.data };
      if (ctx.signature && ctx.blob) {
        const key = ssh2.utils.parseKey(ctx.key.data);
        if (key instanceof Error || Array.isArray(key) || !key.verify(ctx.blob, ctx.signature, ctx.hashAlgo))
          return undefined;
      }
    } else return undefined;
    const key = ['ssh', ip, at.account, at.poolId, at.nodeId, ctx.username].join('|').toLowerCase();
    if (this.opts.throttle.retryAfterMs(key) > 0) return undefined;
    // A key offered without a signature only asks whether it would do (RFC 4252 7): accepting it asks the
    // client for the signature, checked above on its next attempt.
    const found = await this.opts.users
      .login(at.account, at.poolId, at.nodeId, ctx.username, proof)
      .catch(() => undefined);
    if (!found) this.opts.throttle.fail(key);
    return found;
  }

  /** One session channel: a terminal request, a window size, then a shell or an exec; nothing else. */
  private session(session: Session, login: { node: NodeRecord; user: NodeUserRecord }): void {
    let pty: LoginSession['pty'];
    let resize: ((rows: number, cols: number) => void) | undefined;
    session.on('pty', (accept, _reject, info) => {
      pty = { term: info.term, rows: info.rows, cols: info.cols };
      answer(accept);
    });
    session.on('window-change', (accept, _reject, info) => {
      resize?.(info.rows, info.cols);
      answer(accept);
    });
    // ssh2 passes no callback when the client wants no reply: `answer` calls it only when there is one.
    session.on('env', (_accept, reject) => {
      answer(reject);
    });
    session.on('sftp', (_accept, reject) => {
      answer(reject);
    });
    session.on('subsystem', (_accept, reject) => {
      answer(reject);
    });
    session.on('auth-agent', (_accept, reject) => {
      answer(reject);
    });
    session.on('x11', (_accept, reject) => {
      answer(reject);
    });
    // accept() at once: a client with nothing to send ends its input right after the request, and ssh2 then
    // refuses a late accept. A node that cannot be entered gets a message and exit status 1.
    const start = async (accept: () => ServerChannel | undefined, command: string) => {
      const channel = accept();
      if (!channel) return;
      const node = await this.opts.users.findNode(login.node.accountName, login.node.poolId, login.node.id);
      const place = node && (await this.opts.host.place(node));
      if (!node || !place) {
        channel.stderr.write('lazurite: the node is not running\r\n');
        finish(channel, 1);
        return;
      }
      await this.opts.host.writeUsers(node).catch((err: unknown) => {
        this.opts.logger.warn({ err: (err as Error).message, nodeId: node.id }, 'node users not written');
      });
      const proc = place.spawn({
        uid: login.user.uid,
        name: login.user.name,
        command,
        ...(pty ? { pty } : {}),
      });
      resize = proc.resize;
      const child = proc.child;
      if (!child.stdin || !child.stdout || !child.stderr) return;
      const ignore = () => undefined;
      child.on('error', ignore);
      child.stdin.on('error', ignore);
      channel.on('error', ignore);
      channel.stderr.on('error', ignore);
      channel.pipe(child.stdin);
      child.stdout.pipe(channel, { end: false });
      child.stderr.pipe(channel.stderr, { end: false });
      let open = true;
      child.on('close', (code, signal) => {
        if (!open) return;
        finish(channel, code ?? (signal ? 128 : 255));
      });
      channel.on('close', () => {
        open = false;
        child.kill('SIGKILL');
      });
    };
    session.on('shell', (accept) => void start(accept, ''));
    session.on('exec', (accept, _reject, info) => void start(accept, info.command));
  }
}
