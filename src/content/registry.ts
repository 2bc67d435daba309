import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf, isDigest, type BlobStore, type Digest } from './blob-store.ts';
import { putManifest } from './manifests.ts';
import {
  parseChallenge,
  readSmall,
  RegistryError,
  type RegistryCredentials,
  type RegistryHttp,
  type RegistryResponse,
} from './registry-http.ts';

/** An image name as `docker pull` reads it: registry host, repository, and a tag or a digest. */
export interface ImageReference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: Digest;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^\w[\w.-]{0,127}$/;
const DOCKER_HUB = 'docker.io';

/**
 * Parses an image name the way `docker pull` does: a first component with a `.` or `:` (or `localhost`) is the
 * registry, else Docker Hub (`library/` for one-component names); no tag means `latest`.
 */
export function parseImageReference(name: string): ImageReference {
  const invalid = () => new RegistryError('invalid', `'${name}' is not a valid image name`);
  let rest = name.trim();
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d) || !/^sha256:[a-f0-9]{64}$/.test(d)) throw invalid();
    digest = d;
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry = DOCKER_HUB;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first.toLowerCase();
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid();
  }
  if (registry === DOCKER_HUB && !rest.includes('/')) rest = `library/${rest}`;
  if (!REPOSITORY.test(rest) || rest.length > 255) throw invalid();
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The one spelling of a reference (`registry/repository:tag` or `@digest`), used as the host cache's key. */
export function canonicalReference(ref: ImageReference): string {
  const base = `${ref.registry}/${ref.repository}`;
  return ref.digest ? `${base}@${ref.digest}` : `${base}:${ref.tag ?? 'latest'}`;
}

/** The host to speak the API to (Docker Hub's API lives on another name than its images'). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

/**
 * Requests to one registry as one client: answers a 401 by following its `WWW-Authenticate` challenge, Basic
 * (the credentials on every request) or Bearer (a token from the realm, for the request's scope, asked with the
 * credentials when there are any, anonymously otherwise), then asks once more.
 */
export class RegistrySession {
  private readonly http: RegistryHttp;
  private readonly host: string;
  private readonly credentials: RegistryCredentials | undefined;
  private readonly tokens = new Map<string, string>();
  private basic = false;

  constructor(http: RegistryHttp, registry: string, credentials?: RegistryCredentials) {
    this.http = http;
    this.host = apiHost(registry);
    this.credentials = credentials;
  }

  private basicHeader(): string | undefined {
    const c = this.credentials;
    return c ? `Basic ${Buffer.from(`${c.userName}:${c.password}`).toString('base64')}` : undefined;
  }

  private authorization(scope: string): string | undefined {
    const token = this.tokens.get(scope);
    if (token !== undefined) return `Bearer ${token}`;
    return this.basic ? this.basicHeader() : undefined;
  }

  /** One API request (`path` from `/v2/`); `scope` is the Bearer scope it needs (`repository:NAME:pull`). */
  async request(
    method: string,
    path: string,
    scope: string,
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<RegistryResponse> {
    const url = path.startsWith('https://') ? new URL(path) : new URL(path, `https://${this.host}`);
    const send = () => {
      const auth = this.authorization(scope);
      return this.http.send(method, url, auth ? { ...headers, authorization: auth } : headers, body);
    };
    const first = await send();
    if (first.status !== 401) return first;
    first.body.resume();
    const challenge = parseChallenge(first.headers['www-authenticate'] ?? '');
    if (challenge?.scheme === 'basic') {
      if (!this.credentials || this.basic)
        throw new RegistryError('unauthorized', `${this.host} refused the credentials (HTTP 401)`);
      this.basic = true;
    } else if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      // no token yet for this scope, or it expired: ask for one (a refused retry below ends it)
      this.tokens.set(scope, await this.token(challenge.params, scope));
    } else {
      throw new RegistryError(
        'unauthorized',
        `${this.host} answered 401 without a challenge this client knows`,
      );
    }
    const again = await send();
    if (again.status === 401) {
      again.body.resume();
      throw new RegistryError('unauthorized', `${this.host} refused the credentials (HTTP 401)`);
    }
    return again;
  }

  private async token(params: Record<string, string>, scope: string): Promise<string> {
    const realm = new URL(params.realm ?? '');
    if (params.service) realm.searchParams.set('service', params.service);
    // Ask for what this session's request needs (pushes need more than the first challenge, a HEAD's, names).
    realm.searchParams.append('scope', scope);
    if (params.scope && params.scope !== scope) realm.searchParams.append('scope', params.scope);
    const basic = this.basicHeader();
    const res = await this.http.send('GET', realm, basic ? { authorization: basic } : {});
    const text = (await readSmall(res.body)).toString('utf8');
    if (res.status === 401 || res.status === 403)
      throw new RegistryError(
        'unauthorized',
        `${realm.host} refused the credentials (HTTP ${String(res.status)})`,
      );
    if (res.status !== 200)
      throw new RegistryError(
        'unreachable',
        `${realm.host}: token request answered HTTP ${String(res.status)}`,
      );
    const answer = JSON.parse(text) as { token?: string; access_token?: string };
    const token = answer.token ?? answer.access_token;
    if (!token) throw new RegistryError('invalid', `${realm.host}: the token answer holds no token`);
    return token;
  }
}

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** What a container runs with, from the image's config (`config.Env`, `WorkingDir`, `User`, `Entrypoint`, `Cmd`). */
export interface ContainerConfig {
  env: string[];
  workingDir: string;
  user: string;
  entrypoint: string[];
  cmd: string[];
}

/** An image pulled into a content store: its filesystem manifest there (layers in order) and its config. */
export interface PulledImage {
  reference: string;
  /** The registry's digest of the image manifest that was used. */
  manifestDigest: Digest;
  filesystem: Digest;
  config: ContainerConfig;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string };
}

interface ImageManifestDoc {
  mediaType?: string;
  schemaVersion?: number;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

const repoPath = (ref: ImageReference) => `/v2/${ref.repository}`;
const pullScope = (ref: ImageReference) => `repository:${ref.repository}:pull`;

function failOn(res: RegistryResponse, what: string, text: string): never {
  if (res.status === 404)
    throw new RegistryError('not-found', `${what} was not found in the registry (HTTP 404)`);
  if (res.status === 403) throw new RegistryError('unauthorized', `${what}: access denied (HTTP 403)`);
  throw new RegistryError('unreachable', `${what}: HTTP ${String(res.status)} ${text.slice(0, 200)}`);
}

/** Fetches one manifest (by tag or digest), checking its bytes against a digest reference and the registry's header. */
async function fetchManifest(
  session: RegistrySession,
  ref: ImageReference,
  reference: string,
): Promise<{ digest: Digest; doc: ImageManifestDoc }> {
  const accept = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(', ');
  const res = await session.request('GET', `${repoPath(ref)}/manifests/${reference}`, pullScope(ref), {
    accept,
  });
  const bytes = await readSmall(res.body);
  const name = `${ref.registry}/${ref.repository}:${reference}`;
  if (res.status !== 200) failOn(res, `image ${name}`, bytes.toString('utf8'));
  const digest = digestOf(bytes);
  const claimed = res.headers['docker-content-digest'];
  if ((isDigest(reference) && reference !== digest) || (typeof claimed === 'string' && claimed !== digest))
    throw new RegistryError('invalid', `the manifest of ${name} does not match its digest`);
  const doc = JSON.parse(bytes.toString('utf8')) as ImageManifestDoc;
  if (doc.schemaVersion !== 2) throw new RegistryError('invalid', `${name}: not a schema 2 manifest`);
  return { digest, doc };
}

/** Downloads one blob into the store, hashing as it goes; a blob that does not match its digest is refused. */
async function fetchBlob(session: RegistrySession, ref: ImageReference, digest: Digest, store: BlobStore) {
  if (await store.has(digest)) return;
  const res = await session.request('GET', `${repoPath(ref)}/blobs/${digest}`, pullScope(ref));
  if (res.status !== 200) failOn(res, `blob ${digest}`, (await readSmall(res.body)).toString('utf8'));
  const file = join(store.root, `registry-${String(process.pid)}-${randomUUID()}`);
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(res.body, tap, createWriteStream(file));
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== digest)
      throw new RegistryError('invalid', `blob ${digest} does not match its digest (got ${got})`);
    await store.adoptStaged(file, digest);
  } finally {
    await rm(file, { force: true });
  }
}

function configOf(raw: unknown): ContainerConfig {
  const c = (raw as { config?: Record<string, unknown> } | null)?.config ?? {};
  const strings = (v: unknown) =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  return {
    env: strings(c.Env),
    workingDir: typeof c.WorkingDir === 'string' ? c.WorkingDir : '',
    user: typeof c.User === 'string' ? c.User : '',
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
  };
}

/**
 * Pulls an image (OCI or Docker schema 2; an index or manifest list resolves to linux/amd64) into `store`: config
 * and layers verified by digest, layers kept as they came (tar, gzip: `applyLayer` reads both) and named in order
 * by a `filesystem` manifest, so a host unpacks it like any other root file system. Blobs already there are skipped.
 */
export async function pullImage(
  session: RegistrySession,
  ref: ImageReference,
  store: BlobStore,
): Promise<PulledImage> {
  let { digest, doc } = await fetchManifest(session, ref, ref.digest ?? ref.tag ?? 'latest');
  if (doc.manifests !== undefined) {
    const pick = doc.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
    if (!pick || !isDigest(pick.digest))
      throw new RegistryError('invalid', `${canonicalReference(ref)} has no linux/amd64 image`);
    ({ digest, doc } = await fetchManifest(session, ref, pick.digest));
  }
  const configDigest = doc.config?.digest ?? '';
  if (!isDigest(configDigest) || !Array.isArray(doc.layers))
    throw new RegistryError('invalid', `${canonicalReference(ref)}: the manifest names no config or layers`);
  const layers: Digest[] = [];
  let bytes = 0;
  for (const layer of doc.layers) {
    if (!isDigest(layer.digest) || /zstd|foreign|nondistributable/.test(layer.mediaType ?? ''))
      throw new RegistryError(
        'invalid',
        `${canonicalReference(ref)}: layer type ${String(layer.mediaType)} is not supported`,
      );
    layers.push(layer.digest);
    bytes += layer.size ?? 0;
  }
  await fetchBlob(session, ref, configDigest, store);
  for (const layer of layers) await fetchBlob(session, ref, layer, store);
  await store.flush();
  const config = configOf(JSON.parse(await readFile(store.path(configDigest), 'utf8')));
  const sizeGB = Math.max(1, Math.ceil((bytes * 4) / 1024 ** 3));
  const filesystem = await putManifest(store, { kind: 'filesystem', sizeGB, layers });
  return { reference: canonicalReference(ref), manifestDigest: digest, filesystem, config };
}
