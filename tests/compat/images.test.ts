import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from './harness.ts';

/** `lazurite images` as a user runs it; the Debian build really runs debootstrap against Debian's mirror. */
describe('lazurite images', () => {
  test('builds Debian 12 minbase once, with progress, and lists it as runnable', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-images-'));
    const out = JSON.parse(await runCli(['images', 'build', 'debian-12', '--data-dir', dataDir])) as {
      key: string;
      manifest: string;
      sizeBytes: number;
    };
    assert.equal(out.key, 'debian:debian-12:12');
    assert.ok(out.sizeBytes > 50e6 && out.sizeBytes < 400e6, `size ${out.sizeBytes}`);
    const again = JSON.parse(await runCli(['images', 'build', 'debian-12', '--data-dir', dataDir])) as {
      manifest: string;
    };
    assert.equal(again.manifest, out.manifest, 'cached in the data dir');
    const list = await runCli(['images', 'list', '--data-dir', dataDir]);
    assert.match(list, /debian:debian-12:12\s+batch\.node\.debian 12\s+runnable \(debootstrap/);
    assert.match(list, /windowsserver.*not runnable here/);
    // The layer really is Debian 12: read /etc/debian_version out of it.
    const hex = out.manifest.slice('sha256:'.length);
    const manifest = JSON.parse(
      readFileSync(join(dataDir, 'regions', 'westeurope', 'blobs', 'sha256', hex.slice(0, 2), hex), 'utf8'),
    ) as { layers: string[] };
    const layerHex = (manifest.layers[0] ?? '').slice('sha256:'.length);
    const layer = join(dataDir, 'regions', 'westeurope', 'blobs', 'sha256', layerHex.slice(0, 2), layerHex);
    assert.match(execFileSync('tar', ['-xOf', layer, './etc/debian_version'], { encoding: 'utf8' }), /^12\./);
    rmSync(dataDir, { recursive: true, force: true });
  });
});
