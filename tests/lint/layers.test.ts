import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LAYERS, targetOf } from '../../layers.ts';

/**
 * The layer map is enforced (issue 19, ADR 0036): in a temporary copy of the tree, probe files that import across
 * the map (a domain file importing a concrete backend, a store file importing the HTTP surface, an API file
 * importing a backend or the store's records), that read `process.env` outside config, or that stand in a folder
 * the map does not know fail `eslint`, naming the rule; probes that import only what their layer may pass.
 * All probes are linted in one `eslint` run (typed lint of the tree is the slow part).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Probe {
  name: string;
  /** Path under src/. */
  file: string;
  source: string;
  /** The rule the probe must break, or undefined when it must pass. */
  breaks?: RegExp;
}

/** A probe at `file` that imports `target` (a relative path) and must fail the layer map. */
const crossing = (name: string, file: string, target: string): Probe => ({
  name,
  file,
  source: `import * as target from '${target}';\nexport const used = target;\n`,
  breaks: /boundaries\/dependencies/,
});

const PROBES: Probe[] = [
  {
    name: 'a domain file importing only the ports passes',
    file: 'domain/compute/probe-ports.ts',
    source:
      "import type { VmRuntime } from '../../backends/port.ts';\nimport type { Store } from '../../storage/port.ts';\n" +
      'export type Both = [VmRuntime, Store];\n',
  },
  {
    name: 'an API file importing the domain and the protocol passes',
    file: 'api/batch/probe-domain.ts',
    source:
      "import type { PoolRecord } from '../../domain/records.ts';\n" +
      "import type { NodeFileInfo } from '../../protocol/agent-protocol.ts';\nexport type Both = [PoolRecord, NodeFileInfo];\n",
  },
  crossing(
    'a domain file importing the local VM host fails',
    'domain/compute/probe-vm-host.ts',
    '../../backends/local/vm-host.ts',
  ),
  crossing(
    'a domain file importing the simulated executor fails',
    'domain/pools/probe-simulated.ts',
    '../../backends/simulated/node-executor.ts',
  ),
  crossing(
    'a domain file importing the PostgreSQL store fails',
    'domain/jobs/probe-postgres.ts',
    '../../storage/postgres/open.ts',
  ),
  crossing(
    'a domain file importing the Batch HTTP surface fails',
    'domain/jobs/probe-api.ts',
    '../../api/batch/errors.ts',
  ),
  crossing(
    'a domain file importing the host agent fails',
    'domain/pools/probe-agent.ts',
    '../../backends/agent.ts',
  ),
  crossing('a store file importing the HTTP surface fails', 'storage/probe-api.ts', '../api/http/errors.ts'),
  crossing(
    'an API file importing a concrete backend fails',
    'api/ssh/probe-local.ts',
    '../../backends/local/node-logins.ts',
  ),
  {
    name: "an API file importing the store's records fails",
    file: 'api/arm/probe-records.ts',
    source: "import type { PoolRecord } from '../../storage/records.ts';\nexport type Pool = PoolRecord;\n",
    breaks: /boundaries\/dependencies/,
  },
  crossing('a platform file importing the domain fails', 'platform/probe-domain.ts', '../domain/errors.ts'),
  {
    name: 'a domain file reading process.env fails',
    file: 'domain/pools/probe-env.ts',
    source: 'export const level = process.env.LAZURITE_LOG_LEVEL;\n',
    breaks: /no-restricted-properties/,
  },
  {
    name: 'a file in a folder the map does not know fails',
    file: 'probe-unknown/thing.ts',
    source: 'export const thing = 1;\n',
    breaks: /boundaries\/no-unknown-files/,
  },
];

interface LintResult {
  filePath: string;
  messages: { ruleId: string | null; message: string }[];
}

describe('the layer map (layers.ts) in eslint', () => {
  let tree: string;
  let results: Map<string, LintResult>;
  before(() => {
    tree = mkdtempSync(join(tmpdir(), 'lazurite-layers-'));
    for (const p of ['src', 'layers.ts', 'eslint.config.js', 'tsconfig.json', 'package.json'])
      cpSync(join(ROOT, p), join(tree, p), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
    const files = PROBES.map((p) => {
      const file = join(tree, 'src', p.file);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, p.source);
      return file;
    });
    const r = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'eslint'),
      ['--no-cache', '--format', 'json', ...files],
      {
        cwd: tree,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    assert.ok(r.status === 0 || r.status === 1, `eslint exited ${String(r.status)}: ${r.stderr}`);
    results = new Map((JSON.parse(r.stdout) as LintResult[]).map((x) => [x.filePath, x]));
  });
  after(() => {
    rmSync(tree, { recursive: true, force: true });
  });

  for (const probe of PROBES) {
    test(probe.name, () => {
      const result = results.get(join(tree, 'src', probe.file));
      assert.ok(result, `eslint reported nothing on ${probe.file}`);
      const found = result.messages.map((m) => `${m.ruleId ?? '-'}: ${m.message}`);
      if (probe.breaks === undefined) assert.deepEqual(found, []);
      else {
        assert.ok(
          found.some((m) => probe.breaks?.test(m)),
          `${probe.file}: expected ${String(probe.breaks)}, got ${JSON.stringify(found)}`,
        );
        if (/dependencies/.test(String(probe.breaks)))
          assert.ok(found.some((m) => m.includes('layer map (layers.ts)')));
      }
    });
  }

  test('every top folder under src/ is a layer of the map', () => {
    const folders = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    const covered = (folder: string) => LAYERS.some((l) => l.folders.includes(`src/${folder}`));
    assert.deepEqual(
      folders.filter((f) => !covered(f)),
      [],
    );
  });

  test('every layer and part the map names exists', () => {
    for (const l of LAYERS)
      for (const m of l.mayImport) {
        const { layer, part } = targetOf(m);
        const target = LAYERS.find((x) => x.name === layer);
        assert.ok(target, `${l.name} → ${m}`);
        if (part !== undefined) assert.ok(target.parts?.[part], `${l.name} → ${m}: no such part`);
      }
  });
});
