import type { TaskContainer } from '../../protocol/agent-protocol.ts';
import type { PoolRecord } from '../../storage/records.ts';
import { checkImageName, nodeContainers } from '../pools/containers.ts';
import { invalidProperty, unsupportedProperty } from '../pools/pool-spec.ts';

/**
 * A task's `containerSettings` (ADR 0039): the image it runs in, `containerRunOptions` (`--env`/`-e NAME=VALUE`,
 * `--workdir`/`-w DIR`; any other option is refused by name) and `workingDirectory` (`taskWorkingDirectory`, the
 * default, or `containerImageDefault`). `registry` is refused: a task's password would sit in the task record, so
 * credentials come from the pool's `containerRegistries`.
 */
const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

const MODES = ['taskWorkingDirectory', 'containerImageDefault'];

interface RunOptions {
  env: Record<string, string>;
  workdir?: string;
}

/** Splits a run-options string into words as a shell would: quotes ('…', "…" with \ escapes) anywhere in a word. */
function words(text: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? '';
    if (quote === '' && /\s/.test(ch)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else if (quote === '' && (ch === '"' || ch === "'")) {
      quote = ch;
      word ??= '';
    } else if (ch === quote) {
      quote = '';
    } else if (ch === '\\' && quote !== "'" && i + 1 < text.length) {
      word = (word ?? '') + (text[++i] ?? '');
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== undefined) out.push(word);
  return out;
}

/** Parses `containerRunOptions`; an option this server does not take is UnsupportedProperty naming it. */
export function parseRunOptions(text: string, at: string): RunOptions {
  const options: RunOptions = { env: {} };
  const list = words(text);
  for (let i = 0; i < list.length; i++) {
    const word = list[i] ?? '';
    const eq = word.indexOf('=');
    const [flag, inline] =
      word.startsWith('--') && eq > 0 ? [word.slice(0, eq), word.slice(eq + 1)] : [word, undefined];
    const value = () => {
      const v = inline ?? list[++i];
      if (v === undefined || v === '') throw invalidProperty(at, `${flag} needs a value.`);
      return v;
    };
    if (flag === '--env' || flag === '-e') {
      const pair = value();
      const k = pair.indexOf('=');
      const name = k < 0 ? pair : pair.slice(0, k);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw invalidProperty(at, `'${name}' is not an environment variable name.`);
      if (k < 0) throw invalidProperty(at, `--env ${name} needs a value (NAME=VALUE).`);
      options.env[name] = pair.slice(k + 1);
    } else if (flag === '--workdir' || flag === '-w') {
      const dir = value();
      if (!dir.startsWith('/') || dir.split('/').includes('..'))
        throw invalidProperty(at, `--workdir must be an absolute path without '..'.`);
      options.workdir = dir;
    } else {
      throw unsupportedProperty(
        at,
        `The container run option '${flag}' is not supported by this server; only --env and --workdir are.`,
      );
    }
  }
  return options;
}

/** Checks a task's containerSettings (`at`: its path in the body). */
export function checkContainerSettings(value: unknown, at = 'containerSettings'): void {
  if (value === undefined || value === null) return;
  const c = obj(value);
  checkImageName(c.imageName, `${at}.imageName`);
  if (c.registry !== undefined && c.registry !== null)
    throw unsupportedProperty(
      `${at}.registry`,
      "A task's own registry credentials are not supported by this server; give them in the pool's containerConfiguration.containerRegistries.",
    );
  if (c.containerRunOptions !== undefined && c.containerRunOptions !== null) {
    if (typeof c.containerRunOptions !== 'string')
      throw invalidProperty(`${at}.containerRunOptions`, 'Must be a string.');
    parseRunOptions(c.containerRunOptions, `${at}.containerRunOptions`);
  }
  if (
    c.workingDirectory !== undefined &&
    c.workingDirectory !== null &&
    (typeof c.workingDirectory !== 'string' || !MODES.includes(c.workingDirectory))
  )
    throw invalidProperty(`${at}.workingDirectory`, `workingDirectory must be one of ${MODES.join(', ')}.`);
}

/** What the host agent needs to run a task in its container (credentials from the pool). */
export function taskContainer(pool: PoolRecord, spec: Record<string, unknown>): TaskContainer | undefined {
  if (spec.containerSettings === undefined || spec.containerSettings === null) return undefined;
  const c = obj(spec.containerSettings);
  const options = parseRunOptions(typeof c.containerRunOptions === 'string' ? c.containerRunOptions : '', '');
  return {
    imageName: String(c.imageName),
    region: pool.image.region,
    registries: nodeContainers(pool)?.registries ?? [],
    env: options.env,
    imageWorkingDir: c.workingDirectory === 'containerImageDefault',
    ...(options.workdir === undefined ? {} : { workdir: options.workdir }),
  };
}
