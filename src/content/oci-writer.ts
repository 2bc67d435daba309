import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { digestOf } from './blob-store.ts';
import { readSmall, RegistryError } from './registry-http.ts';
import { MEDIA, type ImageReference, type RegistrySession } from './registry.ts';

const run = promisify(execFile);

/** What an image's config says a container runs with (the OCI config's `config` object). */
export interface ImageRunConfig {
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
}

/** An OCI image as bytes: gzip layers, config and manifest, ready to push. */
export interface OciImage {
  layers: Buffer[];
  config: Buffer;
  manifest: Buffer;
}

/** A directory as one gzip tar layer (numeric owners, sorted, so the same tree gives the same bytes). */
export async function layerFromDirectory(dir: string): Promise<Buffer> {
  const file = join(tmpdir(), `layer-${randomUUID()}.tar.gz`);
  try {
    await run('tar', [
      '--format=posix',
      '--numeric-owner',
      '--sort=name',
      '--mtime=@0',
      '-C',
      dir,
      '-czf',
      file,
      '.',
    ]);
    return await readFile(file);
  } finally {
    await rm(file, { force: true });
  }
}

/** An OCI image (linux/amd64) from gzip layers, bottom first, and a run config. */
export function ociImage(layers: Buffer[], run: ImageRunConfig = {}): OciImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: run,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(gunzipSync(l))) },
    }),
  );
  const descriptor = (mediaType: string, bytes: Buffer) => ({
    mediaType,
    digest: digestOf(bytes),
    size: bytes.length,
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: descriptor(MEDIA.ociConfig, config),
      layers: layers.map((l) => descriptor(MEDIA.ociLayerGzip, l)),
    }),
  );
  return { layers, config, manifest };
}

/**
 * Pushes an image over the Registry HTTP API v2: each blob the registry lacks as one monolithic upload
 * (`POST .../blobs/uploads/`, then `PUT <location>?digest=`), then the manifest under the reference's tag.
 */
export async function pushImage(
  session: RegistrySession,
  ref: ImageReference,
  image: OciImage,
): Promise<string> {
  const scope = `repository:${ref.repository}:pull,push`;
  const repo = `/v2/${ref.repository}`;
  for (const blob of [...image.layers, image.config]) {
    const digest = digestOf(blob);
    const head = await session.request('HEAD', `${repo}/blobs/${digest}`, scope);
    head.body.resume();
    if (head.status === 200) continue;
    const start = await session.request('POST', `${repo}/blobs/uploads/`, scope, { 'content-length': '0' });
    await readSmall(start.body);
    const location = start.headers.location;
    if (start.status !== 202 || location === undefined)
      throw new RegistryError('unreachable', `upload start answered HTTP ${String(start.status)}`);
    const url = new URL(location, `https://${ref.registry}`);
    url.searchParams.set('digest', digest);
    const put = await session.request(
      'PUT',
      url.toString(),
      scope,
      {
        'content-type': 'application/octet-stream',
        'content-length': String(blob.length),
      },
      blob,
    );
    const text = (await readSmall(put.body)).toString('utf8');
    if (put.status !== 201)
      throw new RegistryError('unreachable', `blob upload answered HTTP ${String(put.status)} ${text}`);
  }
  const tag = ref.tag ?? 'latest';
  const put = await session.request(
    'PUT',
    `${repo}/manifests/${tag}`,
    scope,
    {
      'content-type': MEDIA.ociManifest,
      'content-length': String(image.manifest.length),
    },
    image.manifest,
  );
  const text = (await readSmall(put.body)).toString('utf8');
  if (put.status !== 201)
    throw new RegistryError('unreachable', `manifest upload answered HTTP ${String(put.status)} ${text}`);
  return digestOf(image.manifest);
}
