/**
 * The agent side of application packages (ADR 0040): before a run, each package it needs is downloaded (a read SAS
 * the server made) and its zip extracted into `applications/<app>/<version>` under the node root, once per node and
 * version (a marker under `applications/.installed/` says it is done; a half-done install has none and is redone).
 * Files are written through the run's NodeFileAccess, inside the node as the run's user. An entry whose path would
 * leave the package's folder, or a symbolic link, fails the install. Failures are returned as the run's
 * pre-processing failure: the server's code for a reference naming no usable package, Batch's blob download codes
 * (BlobNotFound, BlobAccessDenied, BlobDownloadMiscError) for a package that cannot be fetched or read.
 */
import { posix } from 'node:path';
import yauzl from 'yauzl';
import type { PackageInstall } from '../protocol/agent-protocol.ts';
import type { NodeFileAccess, TransferFailure } from './task-files.ts';
import { redactUrl } from './task-files.ts';

const DOWNLOAD_TIMEOUT_MS = 120_000;
/** Type bits of a zip entry's Unix mode (upper half of externalFileAttributes). */
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** A package failure, with the package named in its details. */
function failure(code: string, message: string, p: PackageInstall): TransferFailure {
  return {
    category: 'usererror',
    code,
    message,
    details: [
      { name: 'ApplicationId', value: p.applicationId },
      ...(p.version === '' ? [] : [{ name: 'Version', value: p.version }]),
    ],
  };
}

const markerOf = (p: PackageInstall) => `applications/.installed/${p.applicationId}/${p.version}`;

async function installed(p: PackageInstall, access: NodeFileAccess): Promise<boolean> {
  try {
    await access.readFile(markerOf(p));
    return true;
  } catch {
    return false;
  }
}

async function download(p: PackageInstall): Promise<Buffer | TransferFailure> {
  const url = p.url ?? '';
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  } catch (err) {
    return failure(
      'BlobDownloadMiscError',
      `Downloading package ${redactUrl(url)} failed: ${String(err)}`,
      p,
    );
  }
  if (res.ok) return Buffer.from(await res.arrayBuffer());
  const code =
    res.status === 404 ? 'BlobNotFound' : res.status === 403 ? 'BlobAccessDenied' : 'BlobDownloadMiscError';
  return failure(code, `Downloading package ${redactUrl(url)} failed with HTTP ${String(res.status)}.`, p);
}

interface ZipFile {
  path: string;
  content: Buffer;
  mode: number;
}

/** The zip's files (directories are implied by their files); throws on a bad archive or an escaping entry. */
function readZip(bytes: Buffer): Promise<ZipFile[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true, strictFileNames: true }, (err, zip) => {
      if (err) {
        reject(err);
        return;
      }
      const files: ZipFile[] = [];
      zip.on('error', reject);
      zip.on('end', () => {
        resolve(files);
      });
      zip.on('entry', (entry: yauzl.Entry) => {
        const name = entry.fileName;
        const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff;
        const clean = posix.normalize(name);
        if (name.startsWith('/') || clean === '..' || clean.startsWith('../')) {
          reject(new Error(`the entry '${name}' would be written outside the package's folder`));
          return;
        }
        if ((unixMode & S_IFMT) === S_IFLNK) {
          reject(new Error(`the entry '${name}' is a symbolic link, which packages may not hold`));
          return;
        }
        if (name.endsWith('/')) {
          zip.readEntry();
          return;
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e) {
            reject(e);
            return;
          }
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            files.push({ path: clean, content: Buffer.concat(chunks), mode: unixMode & 0o777 });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** Readable by every user of the node; executable by all when the zip made it executable. */
const modeOf = (zipMode: number) =>
  zipMode === 0 ? 0o644 : (zipMode & 0o111 ? 0o755 : 0o644) | (zipMode & 0o700);

async function installOne(p: PackageInstall, access: NodeFileAccess): Promise<TransferFailure | undefined> {
  if (p.error) return failure(p.error.code, p.error.message, p);
  if (await installed(p, access)) return undefined;
  const bytes = await download(p);
  if (!Buffer.isBuffer(bytes)) return bytes;
  let files: ZipFile[];
  try {
    files = await readZip(bytes);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return failure('BlobDownloadMiscError', `The package is not a zip file Batch can extract: ${reason}.`, p);
  }
  try {
    for (const f of files) await access.writeFile(`${p.folder}/${f.path}`, f.content, modeOf(f.mode));
    await access.writeFile(markerOf(p), Buffer.from(new Date().toISOString()), 0o644);
  } catch (err) {
    return failure('BlobDownloadMiscError', `Extracting the package on the node failed: ${String(err)}`, p);
  }
  return undefined;
}

/**
 * A host's package installs in progress, so two runs on one node (several task slots, or the start task and a task)
 * do not write the same package at once: the second waits for the first, then finds its marker.
 */
export class PackageInstalls {
  private readonly inFlight = new Map<string, Promise<TransferFailure | undefined>>();

  /** Installs a run's packages on `nodeId` in order; the first failure stops and is returned. */
  async install(
    nodeId: string,
    packages: PackageInstall[],
    access: NodeFileAccess,
  ): Promise<TransferFailure | undefined> {
    for (const p of packages) {
      const key = `${nodeId}\0${p.folder}`;
      const running = this.inFlight.get(key);
      if (running) await running;
      const next = installOne(p, access);
      this.inFlight.set(key, next);
      let failed: TransferFailure | undefined;
      try {
        failed = await next;
      } finally {
        if (this.inFlight.get(key) === next) this.inFlight.delete(key);
      }
      if (failed) return failed;
    }
    return undefined;
  }
}

/** Installs a run's packages in order without coordination (tests, one-off runs). */
export function installPackages(
  packages: PackageInstall[],
  access: NodeFileAccess,
): Promise<TransferFailure | undefined> {
  return new PackageInstalls().install('', packages, access);
}
