import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isDigest, type BlobStore, type Digest } from '../content/blob-store.ts';
import type { Manifest } from '../content/manifests.ts';
import type { RegionStores } from '../content/regions.ts';
import type { NodeImage } from './port.ts';

/**
 * The node error code of a node whose host cannot pull its image: Batch's code for an image a node could not get
 * (`ContainerInvalidImage` in the .NET SDK's TaskFailureInformationCodes, "the container image was invalid", and
 * the `errors[]` code of nodes that went unusable over a container image they could not fetch).
 */
export const IMAGE_PULL_ERROR_CODE = 'ContainerInvalidImage';

/** A pull that failed: the server unreachable or refusing, a blob that does not match its digest, no space. */
export class ImagePullError extends Error {
  readonly code = IMAGE_PULL_ERROR_CODE;
}

/** Where blobs come from: the bytes of blob `digest` in `region` (checked by the caller). */
export type BlobFetch = (region: string, digest: Digest) => Promise<Readable>;

/** Blobs from the server over HTTPS (`GET /agent/v1/blobs/{region}/{digest}`, bearer agent token, its CA). */
export function httpsBlobFetch(
  server: string,
  token: string,
  caPem: string,
  timeoutMs = 300_000,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): BlobFetch {
  const agent = new Agent({ keepAlive: true, ca: caPem, maxSockets: 4 });
  const once = (region: string, digest: Digest) =>
    new Promise<Readable | Busy>((resolve, reject) => {
      const url = new URL(`/agent/v1/blobs/${encodeURIComponent(region)}/${digest}`, server);
      const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } });
      req.setTimeout(timeoutMs, () => {
        req.destroy(new Error(`blob ${digest}: no progress in ${String(timeoutMs)} ms`));
      });
      req.on('response', (res) => {
        if (res.statusCode === 200) {
          resolve(res);
          return;
        }
        res.resume();
        if (res.statusCode === 503) {
          resolve({ retryAfterMs: 1000 * Math.min(30, Number(res.headers['retry-after'] ?? 1) || 1) });
          return;
        }
        reject(new Error(`blob ${digest} from ${region}: HTTP ${String(res.statusCode)}`));
      });
      req.on('error', reject);
      req.end();
    });
  // The server's store is busy (its bound of downloads at once): wait as told and try again, for up to an hour.
  return async (region, digest) => {
    for (let waited = 0; waited < 3_600_000;) {
      const r = await once(region, digest);
      if (!('retryAfterMs' in r)) return r;
      await sleep(r.retryAfterMs);
      waited += r.retryAfterMs;
    }
    throw new Error(`blob ${digest} from ${region}: the server stayed busy for an hour`);
  };
}

interface Busy {
  retryAfterMs: number;
}

/** Children of a manifest: blobs (layers, chunks) and, for an image, its disks' manifests. */
function childrenOf(m: Manifest): { blobs: Digest[]; manifests: Digest[] } {
  switch (m.kind) {
    case 'filesystem':
      return { blobs: m.layers, manifests: [] };
    case 'raw':
      return { blobs: m.chunks.filter((c): c is Digest => c !== null), manifests: [] };
    case 'image':
      return { blobs: [], manifests: [m.osDisk, ...m.dataDisks.map((d) => d.disk)] };
  }
}

/**
 * Copies what an image needs from the server into this host's own content store (a per-host cache), with no shared
 * file system: manifests and blobs it lacks, each checked against its digest before it is kept (a blob that does
 * not match is refused and the pull fails). The root manifest is kept last, so a tree whose root is present is
 * complete; a pull that stops halfway keeps the blobs it verified and the next one fetches only the rest.
 */
export class ImagePuller {
  private readonly fetch: BlobFetch;
  private readonly local: RegionStores;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly parallel: number;

  constructor(fetch: BlobFetch, local: RegionStores, parallel = 4) {
    this.fetch = fetch;
    this.local = local;
    this.parallel = parallel;
  }

  /** Fails with an ImagePullError naming the region whatever went wrong. */
  async pull(image: NodeImage): Promise<void> {
    try {
      for (const root of [image.osManifest, ...image.dataDisks.map((d) => d.manifest)]) {
        if (!isDigest(root)) throw new Error(`not a manifest digest: ${root}`);
        await this.tree(image.region, root);
      }
    } catch (err) {
      throw new ImagePullError(
        `The node's image could not be pulled from the replica in region '${image.region}': ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** One manifest and everything under it, once per process at a time. */
  private tree(region: string, root: Digest): Promise<void> {
    const key = `${region}/${root}`;
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.treeOnce(region, root).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async treeOnce(region: string, root: Digest): Promise<void> {
    const store = await this.local.get(region);
    if (await store.has(root)) return;
    const staged = await this.verified(store, region, root);
    try {
      const manifest = JSON.parse(await readFile(staged, 'utf8')) as Manifest;
      const { blobs, manifests } = childrenOf(manifest);
      for (const m of manifests) await this.tree(region, m);
      const missing: Digest[] = [];
      for (const b of new Set(blobs)) if (!(await store.has(b))) missing.push(b);
      let next = 0;
      const worker = async () => {
        while (next < missing.length) {
          const digest = missing[next++];
          if (digest === undefined) break;
          await store.adoptStaged(await this.verified(store, region, digest), digest);
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.parallel, missing.length) }, worker));
      await store.flush();
      await store.adoptStaged(staged, root);
    } finally {
      await rm(staged, { force: true });
    }
  }

  /**
   * Fetches one blob to a file beside the store's blobs (not in its `tmp/`, which another process opening the same
   * store clears) while hashing it; refuses it unless it matches `digest`.
   */
  private async verified(store: BlobStore, region: string, digest: Digest): Promise<string> {
    const file = join(store.root, `pull-${String(process.pid)}-${randomUUID()}`);
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(await this.fetch(region, digest), tap, createWriteStream(file));
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== digest)
        throw new Error(`blob ${digest} from ${region} does not match its digest (got ${got})`);
      return file;
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
  }
}
