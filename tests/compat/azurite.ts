/**
 * Azurite's blob service in a child process, for tests of code that talks to Azure Blob storage: in memory, on a
 * free loopback port, no telemetry. The account is Azurite's well-known development account.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

const ACCOUNT_NAME = 'devstoreaccount1';
/** Azurite's published development account key (the same in every Azurite install; not a secret). */
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const STARTUP_TIMEOUT_MS = 30_000;

export interface AzuriteBlob {
  /** e.g. `http://127.0.0.1:PORT/devstoreaccount1` */
  blobEndpoint: string;
  accountName: string;
  accountKey: string;
  /** The container's URL with a service SAS (permissions as in `racwdl`, default expiry one hour). */
  containerSasUrl(container: string, permissions: string, expiresInMs?: number): string;
  /** A client with the account key. */
  serviceClient: BlobServiceClient;
  stop(): Promise<void>;
}

function azuriteBlobMain(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
}

/** Spawns Azurite and resolves with the port it reports once it listens. */
function spawnAzurite(cwd: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const args = [
    azuriteBlobMain(),
    ...['--blobHost', '127.0.0.1', '--blobPort', '0'],
    ...['--inMemoryPersistence', '--silent', '--skipApiVersionCheck', '--disableTelemetry'],
  ];
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`Azurite did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output}`));
    }, STARTUP_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop });
      }
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited early (${String(code)}):\n${output}`));
    });
  });
}

/** Starts Azurite's blob service and waits until it answers requests. */
export async function startAzuriteBlob(): Promise<AzuriteBlob> {
  const location = mkdtempSync(join(tmpdir(), 'lazurite-azurite-'));
  const { port, stop: stopProcess } = await spawnAzurite(location).catch((err: unknown) => {
    rmSync(location, { recursive: true, force: true });
    throw err;
  });
  const blobEndpoint = `http://127.0.0.1:${port}/${ACCOUNT_NAME}`;
  const credential = new StorageSharedKeyCredential(ACCOUNT_NAME, ACCOUNT_KEY);
  const serviceClient = new BlobServiceClient(blobEndpoint, credential);
  try {
    await serviceClient.getProperties();
  } catch (err) {
    await stopProcess();
    rmSync(location, { recursive: true, force: true });
    throw err;
  }
  return {
    blobEndpoint,
    accountName: ACCOUNT_NAME,
    accountKey: ACCOUNT_KEY,
    serviceClient,
    containerSasUrl(container, permissions, expiresInMs = 3_600_000) {
      const sas = generateBlobSASQueryParameters(
        {
          containerName: container,
          permissions: ContainerSASPermissions.parse(permissions),
          startsOn: new Date(Date.now() - 60_000),
          expiresOn: new Date(Date.now() + expiresInMs),
        },
        credential,
      );
      return `${blobEndpoint}/${container}?${sas.toString()}`;
    },
    async stop() {
      await stopProcess();
      rmSync(location, { recursive: true, force: true });
    },
  };
}

/**
 * Makes `blob` the one storage account servers started from now on know (LAZURITE_STORAGE_ACCOUNTS, read at
 * start); the returned function puts the variable back as it was.
 */
export function knowStorageAccount(blob: AzuriteBlob): () => void {
  const previous = process.env.LAZURITE_STORAGE_ACCOUNTS;
  process.env.LAZURITE_STORAGE_ACCOUNTS = JSON.stringify({
    [blob.accountName]: { blobEndpoint: blob.blobEndpoint, key: blob.accountKey },
  });
  return () => {
    if (previous === undefined) delete process.env.LAZURITE_STORAGE_ACCOUNTS;
    else process.env.LAZURITE_STORAGE_ACCOUNTS = previous;
  };
}
