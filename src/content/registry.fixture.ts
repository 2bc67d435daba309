import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPKCS8, SignJWT } from 'jose';
import { ensureTlsMaterial } from '../platform/tls.ts';
import { RegistryHttp } from './registry-http.ts';

/**
 * A throw-away Docker registry (Debian's `docker-registry`, the CNCF distribution registry) on loopback with TLS
 * from a throw-away CA and one user. `basic`: htpasswd basic auth. `token`: the registry sends clients to a token
 * server this fixture runs (JWTs signed by a certificate of the same CA, `x5c` in the header), which checks the
 * same user and grants what the scope asks.
 */
export interface TestRegistry {
  /** `127.0.0.1:<port>`, the registry part of image names. */
  host: string;
  caPem: string;
  caPath: string;
  userName: string;
  password: string;
  http: RegistryHttp;
  stop(): Promise<void>;
}

const USER = 'lazurite';
const SERVICE = 'lazurite-test-registry';
const ISSUER = 'lazurite-test-issuer';

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

/** A token server for the registry's `auth.token` mode. */
async function tokenServer(tls: ReturnType<typeof ensureTlsMaterial>, password: string): Promise<Server> {
  const key = await importPKCS8(tls.keyPem, 'RS256');
  const x5c = [new X509Certificate(tls.certPem).raw.toString('base64')];
  const server = createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      const auth = req.headers.authorization ?? '';
      const given = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : '';
      if (given !== `${USER}:${password}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      const access = url.searchParams.getAll('scope').flatMap((s) => {
        const [type, name, actions] = s.split(':');
        return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
      });
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'RS256', x5c })
        .setIssuer(ISSUER)
        .setAudience(url.searchParams.get('service') ?? SERVICE)
        .setSubject(USER)
        .setIssuedAt()
        .setNotBefore('-1m')
        .setExpirationTime('5m')
        .setJti(String(Math.random()))
        .sign(key);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function waitUntilUp(http: RegistryHttp, host: string, child: ChildProcess, log: () => string) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log()}`);
    try {
      const res = await http.send('GET', new URL(`https://${host}/v2/`), {});
      res.body.resume();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50)); // the registry is still starting (connection refused)
    }
  }
  throw new Error(`docker-registry did not start: ${log()}`);
}

export async function startTestRegistry(auth: 'basic' | 'token' = 'basic'): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-registry-'));
  const tls = ensureTlsMaterial(join(dir, 'tls'), undefined, new Date());
  const password = `pw-${String(process.pid)}-${String(Date.now())}`;
  const port = await freePort();
  const host = `127.0.0.1:${String(port)}`;
  let tokens: Server | undefined;
  let authYaml: string;
  if (auth === 'basic') {
    execFileSync('htpasswd', ['-Bbc', join(dir, 'htpasswd'), USER, password], { stdio: 'ignore' });
    authYaml = `  htpasswd:\n    realm: ${SERVICE}\n    path: ${join(dir, 'htpasswd')}\n`;
  } else {
    tokens = await tokenServer(tls, password);
    const realm = `https://127.0.0.1:${String((tokens.address() as AddressInfo).port)}/token`;
    authYaml = `  token:\n    realm: ${realm}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${tls.caCertPath}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n` +
      `http:\n  addr: ${host}\n  tls:\n    certificate: ${join(dir, 'tls', 'server.pem')}\n` +
      `    key: ${join(dir, 'tls', 'server-key.pem')}\nauth:\n${authYaml}`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
  const http = new RegistryHttp({ extraCaPem: [tls.caCertPem] });
  const stop = async () => {
    http.close();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    tokens?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilUp(http, host, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, caPem: tls.caCertPem, caPath: tls.caCertPath, userName: USER, password, http, stop };
}
