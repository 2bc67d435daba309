import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type TestServer } from './harness.ts';

export interface AzRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The az CLI logged in to a test server as `lazurite az-setup` says (own config dir; `close()` removes it). */
export interface AzSession {
  run(args: string[]): AzRun;
  json(args: string[]): unknown;
  close(): void;
}

export async function azSession(server: TestServer): Promise<AzSession> {
  const configDir = mkdtempSync(join(tmpdir(), 'lazurite-az-'));
  const run = (args: string[]): AzRun => {
    const r = spawnSync('az', args, {
      env: {
        ...process.env,
        AZURE_CONFIG_DIR: configDir,
        REQUESTS_CA_BUNDLE: server.connection.caCertPath,
        AZURE_CORE_COLLECT_TELEMETRY: 'false',
        AZURE_CORE_ONLY_SHOW_ERRORS: 'true',
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const commands = (await runCli(['az-setup', '--data-dir', server.dataDir])).trim().split('\n');
  for (const prefix of ['az cloud register', 'az cloud set', 'az login']) {
    const line = commands.find((c) => c.startsWith(prefix));
    assert.ok(line, `az-setup prints a '${prefix}' line`);
    const r = run(line.split('#')[0]?.trim().split(/\s+/).slice(1) ?? []);
    assert.equal(r.status, 0, `${prefix}: ${r.stderr}`);
  }
  return {
    run,
    json(args) {
      const r = run([...args, '-o', 'json']);
      assert.equal(r.status, 0, `az ${args.join(' ')} failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as unknown;
    },
    close: () => {
      rmSync(configDir, { recursive: true, force: true });
    },
  };
}
