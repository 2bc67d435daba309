import { stat } from 'node:fs/promises';
import type { BlobStore, Digest } from './blob-store.ts';
import { reachableBlobs } from './manifests.ts';

export interface ReplicationProgress {
  bytesDone: number;
  bytesTotal: number;
  /** Bytes actually written to the target so far (blobs it already had are skipped, not copied). */
  bytesCopied: number;
}

/**
 * Copies everything `root` reaches from one region's store to another's, skipping blobs already there.
 * The root manifest is copied last, so its presence in the target means the replica is complete — a crash
 * part-way leaves no complete-looking replica, and a restart resumes by skipping what was copied.
 */
export async function replicate(
  from: BlobStore,
  to: BlobStore,
  root: Digest,
  onProgress: (p: ReplicationProgress) => void = () => undefined,
): Promise<ReplicationProgress> {
  const blobs = await reachableBlobs(from, root);
  const sizes = await Promise.all(blobs.map(async (d) => (await stat(from.path(d))).size));
  const bytesTotal = sizes.reduce((a, b) => a + b, 0);
  let bytesDone = 0;
  let bytesCopied = 0;
  // Children are staged without per-blob fsync, flushed once, then moved into place; the root goes last.
  const staged: { tmp: string; digest: Digest }[] = [];
  for (const [i, digest] of blobs.entries()) {
    if (digest === root) continue;
    const copy = await to.stageFrom(from, digest);
    if (copy) {
      staged.push({ tmp: copy.tmp, digest });
      bytesCopied += copy.bytes;
    }
    bytesDone += sizes[i] ?? 0;
    onProgress({ bytesDone, bytesTotal, bytesCopied });
  }
  if (staged.length > 0) await to.flush();
  for (const s of staged) await to.adoptStaged(s.tmp, s.digest);
  bytesCopied += await to.copyFrom(from, root);
  bytesDone = bytesTotal;
  onProgress({ bytesDone, bytesTotal, bytesCopied });
  return { bytesDone, bytesTotal, bytesCopied };
}

/** Whether a replica of `root` is complete in `store` (its root manifest is written last). */
export function replicaComplete(store: BlobStore, root: Digest): Promise<boolean> {
  return store.has(root);
}
