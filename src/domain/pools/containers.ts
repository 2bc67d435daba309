import { parseImageReference } from '../../content/registry.ts';
import type { NodeContainers } from '../../backends/port.ts';
import type { PoolRecord } from '../../storage/records.ts';
import { invalidProperty, missingProperty, unsupportedProperty } from './pool-spec.ts';

/**
 * A pool's `virtualMachineConfiguration.containerConfiguration` (ADR 0039): the images every node pulls when it
 * starts (`containerImageNames`) and the registries' credentials (`containerRegistries`). Passwords are kept out of
 * the spec (never answered) and in the pool record's sealed `registryPasswords`, by registry index.
 */
const AT = 'virtualMachineConfiguration.containerConfiguration';
const TYPES = ['dockerCompatible', 'criCompatible'];

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Checks `containerRegistries` entries (a pool's, or a task's `registry` with `at` naming it). */
export function checkRegistry(raw: unknown, at: string): void {
  const r = obj(raw);
  if (r.identityReference !== undefined && r.identityReference !== null)
    throw unsupportedProperty(
      `${at}.identityReference`,
      'Managed identities are not supported by this server; give username and password.',
    );
  if (
    r.registryServer !== undefined &&
    (typeof r.registryServer !== 'string' || !/^[\w.-]+(:\d+)?$/.test(r.registryServer))
  )
    throw invalidProperty(
      `${at}.registryServer`,
      'registryServer must be a host name, with a port if needed.',
    );
  if (typeof r.username !== 'string' || r.username === '') throw missingProperty(`${at}.username`);
  if (typeof r.password !== 'string' || r.password === '') throw missingProperty(`${at}.password`);
}

/** Checks an image name as `docker pull` reads it; a name that is not one is InvalidPropertyValue naming it. */
export function checkImageName(value: unknown, at: string): void {
  if (typeof value !== 'string' || value.trim() === '') throw missingProperty(at);
  try {
    parseImageReference(value);
  } catch {
    throw invalidProperty(at, `'${value}' is not a valid container image name.`);
  }
}

/** Checks a pool add's containerConfiguration, if any. */
export function checkContainerConfiguration(vmc: unknown): void {
  const value = obj(vmc).containerConfiguration;
  if (value === undefined || value === null) return;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidProperty(AT, 'Must be an object.');
  const c = value as Record<string, unknown>;
  if (c.type === undefined || c.type === null) throw missingProperty(`${AT}.type`);
  if (typeof c.type !== 'string' || !TYPES.includes(c.type))
    throw invalidProperty(`${AT}.type`, `type must be one of ${TYPES.join(', ')}.`);
  const names = c.containerImageNames ?? [];
  if (!Array.isArray(names)) throw invalidProperty(`${AT}.containerImageNames`, 'Must be a list.');
  for (const [i, name] of (names as unknown[]).entries())
    checkImageName(name, `${AT}.containerImageNames[${String(i)}]`);
  const registries = c.containerRegistries ?? [];
  if (!Array.isArray(registries)) throw invalidProperty(`${AT}.containerRegistries`, 'Must be a list.');
  for (const [i, r] of (registries as unknown[]).entries())
    checkRegistry(r, `${AT}.containerRegistries[${String(i)}]`);
}

/** The spec without registry passwords, and the passwords by registry index (for a pool add). */
export function sealRegistriesOf(spec: Record<string, unknown>): {
  spec: Record<string, unknown>;
  registryPasswords?: Record<string, string>;
} {
  const vmc = obj(spec.virtualMachineConfiguration);
  const c = obj(vmc.containerConfiguration);
  if (!Array.isArray(c.containerRegistries) || c.containerRegistries.length === 0) return { spec };
  const registryPasswords: Record<string, string> = {};
  const containerRegistries = (c.containerRegistries as unknown[]).map((raw, i) => {
    const { password, ...rest } = obj(raw);
    registryPasswords[String(i)] = String(password);
    return rest;
  });
  const containerConfiguration = { ...c, containerRegistries };
  return {
    spec: { ...spec, virtualMachineConfiguration: { ...vmc, containerConfiguration } },
    registryPasswords,
  };
}

/** What a node of the pool needs for containers (the images to prefetch, the registries with passwords). */
export function nodeContainers(pool: PoolRecord): NodeContainers | undefined {
  const c = obj(obj(pool.spec.virtualMachineConfiguration).containerConfiguration);
  if (Object.keys(c).length === 0) return undefined;
  const registries = (Array.isArray(c.containerRegistries) ? (c.containerRegistries as unknown[]) : []).map(
    (raw, i) => {
      const r = obj(raw);
      return {
        registryServer: typeof r.registryServer === 'string' ? r.registryServer : 'docker.io',
        userName: String(r.username),
        password: pool.registryPasswords?.[String(i)] ?? '',
      };
    },
  );
  const images = Array.isArray(c.containerImageNames) ? c.containerImageNames.map(String) : [];
  return { images, registries };
}
