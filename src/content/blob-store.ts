import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Transform } from 'node:stream';

/** A sha256 content digest, written `sha256:<64 hex>`. */
export type Digest = `sha256:${string}`;

const DIGEST = /^sha256:([0-9a-f]{64})$/;
const run = promisify(execFile);

export function isDigest(value: string): value is Digest {
  return DIGEST.test(value);
}

export function digestOf(data: Buffer): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function hexOf(digest: Digest): string {
  const m = DIGEST.exec(digest);
  if (!m?.[1]) throw new Error(`not a sha256 digest: ${digest}`);
  return m[1];
}

/**
 * Immutable, content-addressed blobs in one folder (one region's store). A blob appears under its digest only
 * once it is completely written and flushed (write to `tmp/`, fsync, rename), so a reader never sees a partial
 * blob and a crash leaves at most garbage in `tmp/`, which `open` clears. Putting content that is already
 * present writes nothing.
 */
export class BlobStore {
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  static async open(root: string): Promise<BlobStore> {
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await rm(join(root, 'tmp'), { recursive: true, force: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    return new BlobStore(root);
  }

  path(digest: Digest): string {
    const hex = hexOf(digest);
    return join(this.root, 'blobs', 'sha256', hex.slice(0, 2), hex);
  }

  async has(digest: Digest): Promise<boolean> {
    try {
      await stat(this.path(digest));
      return true;
    } catch {
      return false;
    }
  }

  async size(digest: Digest): Promise<number> {
    return (await stat(this.path(digest))).size;
  }

  private tmpPath(): string {
    return join(this.root, 'tmp', randomUUID());
  }

  /** Moves a fully written, flushed temp file into place under `digest` (or drops it if already there). */
  private async commit(tmp: string, digest: Digest): Promise<void> {
    const handle = await open(tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (await this.has(digest)) {
      await rm(tmp, { force: true });
      return;
    }
    await mkdir(join(this.path(digest), '..'), { recursive: true });
    await rename(tmp, this.path(digest));
  }

  async putBuffer(data: Buffer): Promise<Digest> {
    const digest = digestOf(data);
    if (await this.has(digest)) return digest;
    const tmp = this.tmpPath();
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
    await this.commit(tmp, digest);
    return digest;
  }

  /** Streams a file in, hashing as it copies; returns its digest and whether bytes were added. */
  async putFile(source: string): Promise<{ digest: Digest; added: boolean }> {
    const tmp = this.tmpPath();
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(createReadStream(source), tap, createWriteStream(tmp));
    const digest: Digest = `sha256:${hash.digest('hex')}`;
    const existed = await this.has(digest);
    await this.commit(tmp, digest);
    return { digest, added: !existed };
  }

  /**
   * Moves a file already in this store's `tmp/` into place under its digest, with no copy: hashed by a
   * low-priority `sha256sum` (off the event loop, so requests keep their CPU), flushed, renamed (or dropped when
   * the blob is already there). What big imports and captures use.
   */
  async adoptFile(tmp: string): Promise<{ digest: Digest; added: boolean }> {
    const { stdout } = await run('nice', ['-n', '10', 'sha256sum', '--', tmp]);
    const hex = stdout.slice(0, 64);
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`sha256sum gave no digest for ${tmp}`);
    const digest: Digest = `sha256:${hex}`;
    const existed = await this.has(digest);
    await this.commit(tmp, digest);
    return { digest, added: !existed };
  }

  /** Copies one blob from another store unless present; returns the bytes copied (0 when deduplicated). */
  async copyFrom(other: BlobStore, digest: Digest): Promise<number> {
    if (await this.has(digest)) return 0;
    const tmp = this.tmpPath();
    await copyFile(other.path(digest), tmp);
    const bytes = (await stat(tmp)).size;
    await this.commit(tmp, digest);
    return bytes;
  }

  /**
   * Copies a blob from another store into `tmp/` without flushing; `adoptStaged` moves it into place after one
   * `flush` covers a whole batch (what replication does: one syncfs instead of one fsync per blob).
   */
  async stageFrom(other: BlobStore, digest: Digest): Promise<{ tmp: string; bytes: number } | undefined> {
    if (await this.has(digest)) return undefined;
    const tmp = this.tmpPath();
    await copyFile(other.path(digest), tmp);
    return { tmp, bytes: (await stat(tmp)).size };
  }

  /** Flushes everything written to this store's file system (syncfs). */
  async flush(): Promise<void> {
    await run('sync', ['-f', this.root]);
  }

  /** Moves a staged, already flushed blob into place under its digest. */
  async adoptStaged(tmp: string, digest: Digest): Promise<void> {
    if (await this.has(digest)) {
      await rm(tmp, { force: true });
      return;
    }
    await mkdir(join(this.path(digest), '..'), { recursive: true });
    await rename(tmp, this.path(digest));
  }

  async list(): Promise<Digest[]> {
    const base = join(this.root, 'blobs', 'sha256');
    const out: Digest[] = [];
    for (const dir of await readdir(base)) {
      for (const hex of await readdir(join(base, dir))) out.push(`sha256:${hex}`);
    }
    return out.sort();
  }

  async remove(digest: Digest): Promise<void> {
    await rm(this.path(digest), { force: true });
  }
}
