import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../content/blob-store.ts';
import { RegistryError, type RegistryFailure, type RegistryHttp } from '../content/registry-http.ts';
import {
  canonicalReference,
  parseImageReference,
  pullImage,
  RegistrySession,
  type PulledImage,
} from '../content/registry.ts';
import type { NodeContainers } from './port.ts';

/** Batch's codes for a container image that could not be pulled (TaskFailureInformationCodes). */
export const CONTAINER_CODES: Record<RegistryFailure, string> = {
  'not-found': 'ContainerInvalidImage',
  invalid: 'ContainerInvalidImage',
  unauthorized: 'ContainerInvalidRegistry',
  unreachable: 'ContainerMiscError',
};

/** The images a node prefetches (`containerImageNames`), each once per host; the first failure as Batch shows it. */
export async function prefetchImages(
  images: HostContainerImages | undefined,
  spec: { containers?: NodeContainers; image: { region: string } },
): Promise<{ code: string; message: string } | undefined> {
  const c = spec.containers;
  if (c === undefined || c.images.length === 0) return undefined;
  if (images === undefined)
    return {
      code: 'ContainerMiscError',
      message: 'This host cannot run containers (its node backend has no image store).',
    };
  for (const name of c.images) {
    try {
      await images.ensure(name, c.registries, spec.image.region);
    } catch (err) {
      return containerFailure(name, err);
    }
  }
  return undefined;
}

/** A pull failure as Batch shows it: code and message. */
export function containerFailure(name: string, err: unknown): { code: string; message: string } {
  const failure: RegistryFailure = err instanceof RegistryError ? err.failure : 'unreachable';
  const detail = err instanceof Error ? err.message : String(err);
  const what =
    failure === 'unauthorized'
      ? 'The container registry refused the credentials'
      : failure === 'unreachable'
        ? 'The container image could not be pulled'
        : 'One or more container images specified are invalid';
  return { code: CONTAINER_CODES[failure], message: `${what}. ContainerImage: ${name}. Message: ${detail}` };
}

const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const sameRegistry = (a: string, b: string) =>
  a.toLowerCase() === b.toLowerCase() ||
  (DOCKER_HUB_NAMES.has(a.toLowerCase()) && DOCKER_HUB_NAMES.has(b.toLowerCase()));

/**
 * Container images on one host (ADR 0039): each pulled once per host into the host's content store (layers kept
 * once, by digest) and remembered by reference in `<dir>/<sha256 of the reference>.json`, written whole and renamed
 * into place, so every node of the host reuses it; pulls of the same reference at once share one promise.
 */
export class HostContainerImages {
  private readonly dir: string;
  private readonly store: (region: string) => Promise<BlobStore>;
  private readonly http: RegistryHttp;
  private readonly inflight = new Map<string, Promise<PulledImage>>();
  private readonly unpack: ((region: string, filesystem: string) => Promise<string>) | undefined;

  /**
   * `unpack` (local hosts): unpacks a pulled image's layers once per host (the image cache's `rootfs/<digest>`,
   * the read-only lower a container's root will use), so a node's first container task pays no unpack.
   */
  constructor(
    dir: string,
    store: (region: string) => Promise<BlobStore>,
    http: RegistryHttp,
    unpack?: (region: string, filesystem: string) => Promise<string>,
  ) {
    this.dir = dir;
    this.store = store;
    this.http = http;
    this.unpack = unpack;
  }

  /** The image this host last pulled as `reference`, if any (what a container run uses). */
  async known(reference: string): Promise<PulledImage | undefined> {
    const index = this.indexPath(reference);
    return existsSync(index) ? (JSON.parse(await readFile(index, 'utf8')) as PulledImage) : undefined;
  }

  private indexPath(reference: string): string {
    return join(this.dir, `${createHash('sha256').update(reference).digest('hex')}.json`);
  }

  /** The image `name` checked with the registry and pulled where this host lacks it (credentials: its registry's entry). */
  ensure(name: string, registries: NodeContainers['registries'], region: string): Promise<PulledImage> {
    const ref = parseImageReference(name);
    const reference = canonicalReference(ref);
    const creds = registries.find((r) => sameRegistry(r.registryServer, ref.registry));
    // Pulls at once share one promise only with the same credentials: one pool's must never stand for another's.
    const key = `${reference}\0${creds ? `${creds.userName}\0${creds.password}` : ''}`;
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.pull(reference, ref, creds, region).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async pull(
    reference: string,
    ref: ReturnType<typeof parseImageReference>,
    creds: NodeContainers['registries'][number] | undefined,
    region: string,
  ): Promise<PulledImage> {
    const index = this.indexPath(reference);
    const store = await this.store(region);
    // The manifest is always asked of the registry with this pool's credentials (as `docker pull` does), so an
    // image this host holds for one pool is no way round another pool's missing or wrong credentials; the
    // config and layers the host holds already are not fetched again.
    const session = new RegistrySession(this.http, ref.registry, creds);
    const pulled = await pullImage(session, ref, store);
    await this.unpack?.(region, pulled.filesystem);
    await mkdir(this.dir, { recursive: true });
    const tmp = `${index}.tmp-${randomUUID()}`;
    await writeFile(tmp, JSON.stringify(pulled));
    await rename(tmp, index);
    return pulled;
  }
}
