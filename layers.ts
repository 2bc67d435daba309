/**
 * The layer map (issue 19, ADR 0036): which parts of `src/` may import which. This file is the one source:
 * `eslint.config.js` turns it into `eslint-plugin-boundaries` settings and policies (so `npm test`'s lint step
 * fails on an import it does not allow), and `npm run docs:layers` draws the diagram in `docs/architecture.md`
 * from it. Every file under `src/` belongs to exactly one layer (the first whose patterns match it, in this
 * order); a file no layer claims fails lint (`boundaries/no-unknown-files`), so a new top folder must be added here.
 * Tests and fixtures are outside the map: they wire real adapters in.
 */

export interface Layer {
  /** The element type eslint-plugin-boundaries reports. */
  name: string;
  /**
   * Folders of the layer, relative to the repository root: a file belongs to the first layer (in this list's order)
   * one of whose folders holds it, so a subfolder with its own layer comes before its parent's.
   */
  folders: string[];
  /** Named sets of the layer's files (micromatch patterns) that other layers may be limited to (`layer/part`). */
  parts?: Record<string, string[]>;
  /** One line for the diagram. */
  what: string;
  /** Layers its files may import, `layer` (any file) or `layer/part` (that part's files only); itself always. */
  mayImport: string[];
}

/** What the composition (`app/`) and the command line wire together: every layer below the surfaces. */
const WIRING = [
  'domain',
  'storage',
  'backends',
  'backends-adapters',
  'protocol',
  'content',
  'platform',
  'config',
];

export const LAYERS: readonly Layer[] = [
  {
    name: 'storage',
    folders: ['src/storage'],
    parts: { port: ['src/storage/port.ts', 'src/storage/records.ts', 'src/storage/keys.ts'] },
    what: 'the store: its port (domain verbs, the records, case-insensitive keys), migrations, SQLite and PostgreSQL',
    mayImport: ['protocol', 'platform'],
  },
  {
    name: 'backends-adapters',
    folders: ['src/backends/local', 'src/backends/simulated', 'src/backends/slurm'],
    what: 'the node backends: local sandboxes and VMs, the simulated one, Slurm',
    // An adapter implements a port the domain declares (NodeAllocator, node logins) and reads its options.
    mayImport: ['backends', 'domain', 'protocol', 'content', 'platform', 'config'],
  },
  {
    name: 'backends',
    folders: ['src/backends'],
    // The host agent (agent.ts) drives executors; everything else here is the port and backend-neutral parts.
    parts: { port: ['src/backends/!(agent).ts'] },
    what: 'the node backend port (NodeExecutor, VmRuntime), backend-neutral parts (task files, logs) and the host agent',
    mayImport: ['protocol', 'content', 'platform'],
  },
  {
    name: 'protocol',
    folders: ['src/protocol'],
    what: 'the agent protocol: messages between the server and host agents',
    mayImport: ['backends/port'],
  },
  {
    name: 'content',
    folders: ['src/content'],
    what: 'disk and image bytes per region: blobs, manifests, layers, root file systems',
    mayImport: ['platform'],
  },
  {
    name: 'platform',
    folders: ['src/platform'],
    what: 'clock, ids, logger, TLS, tokens, sealing: infrastructure without business rules',
    mayImport: [],
  },
  {
    name: 'domain',
    folders: ['src/domain'],
    what: 'the rules, once: accounts, RBAC, compute, pools, jobs; no HTTP, no concrete store or backend',
    mayImport: ['storage/port', 'backends/port', 'protocol', 'content', 'platform'],
  },
  {
    name: 'config',
    folders: ['src/config'],
    what: 'typed configuration: flags and LAZURITE_* variables (the only reader of process.env below app and cli)',
    // Option values the domain defines are parsed by the domain's own parsers (quotas, the node network).
    mayImport: ['domain', 'platform'],
  },
  {
    name: 'api',
    folders: ['src/api'],
    what: 'one folder per wire surface (ARM, Batch, identity, agent, SSH, portal) and the HTTPS server',
    mayImport: ['domain', 'protocol', 'content', 'platform', 'config'],
  },
  {
    name: 'app',
    folders: ['src/app'],
    what: 'the composition: config, store, services and surfaces wired together',
    mayImport: ['api', ...WIRING],
  },
  {
    name: 'cli',
    folders: ['src/cli'],
    what: 'the lazurite command',
    mayImport: ['app', ...WIRING],
  },
];

/** A `mayImport` entry split: the layer and, when the entry names one, the part. */
export function targetOf(entry: string): { layer: string; part?: string } {
  const [layer = entry, part] = entry.split('/');
  return part === undefined ? { layer } : { layer, part };
}

/** Files the map does not judge: tests, fixtures and the conformance suites they run. */
export const OUTSIDE_THE_MAP: readonly string[] = [
  'src/**/*.test.ts',
  'src/**/*.fixture.ts',
  'src/**/conformance*.ts',
];

/** Where `process.env` may be read: configuration, the composition, the command line (and tests). */
export const ENVIRONMENT_READERS: readonly string[] = ['src/config/**', 'src/app/**', 'src/cli/**'];
