import { invalidInput } from '../../domain/errors.ts';
import { evaluate, type TemplateScope } from './template.ts';
import { objectOrEmpty } from './validation.ts';

/** One resource a deployment puts, in order. */
export interface TemplateResource {
  id: string;
  apiVersion: string;
  body: Record<string, unknown>;
  dependsOn: string[];
  /** The copy loop that made it (dependsOn may name the loop: every instance). */
  loop?: string;
}

/** ARM's limit on a copy loop's count. */
const MAX_COPIES = 800;

const invalidTemplate = (message: string, target = 'properties.template') =>
  invalidInput('InvalidTemplate', message, target);

function resourceId(scope: TemplateScope, type: string, name: string): string {
  const [ns = '', ...types] = type.split('/');
  const names = name.split('/');
  return `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}/providers/${ns}/${types.map((t, i) => `${t}/${names[i] ?? ''}`).join('/')}`;
}

/** The parameters the deployment gives, checked against the template's (an unknown one is InvalidTemplate). */
function bindParameters(
  template: Record<string, unknown>,
  given: Record<string, unknown>,
  scope: TemplateScope,
) {
  const declared = objectOrEmpty(template.parameters);
  const unknown = Object.keys(given).filter(
    (k) => !Object.keys(declared).some((d) => d.toLowerCase() === k.toLowerCase()),
  );
  if (unknown.length > 0)
    throw invalidTemplate(
      `The template parameters '${unknown.join(', ')}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time.`,
      'properties.parameters',
    );
  for (const [name, def] of Object.entries(declared)) {
    const provided = objectOrEmpty(given[name]);
    if ('value' in provided) scope.parameters[name] = provided.value;
    else if ('defaultValue' in objectOrEmpty(def))
      scope.parameters[name] = evaluate(objectOrEmpty(def).defaultValue, scope);
    else
      throw invalidTemplate(
        `The value for the template parameter '${name}' is not provided.`,
        `properties.parameters.${name}`,
      );
  }
}

/** Copy loops Lazurite does not expand (property, variable and output iteration) are refused, never dropped. */
function refuseOtherCopies(template: Record<string, unknown>, resources: unknown[]): void {
  if ('copy' in objectOrEmpty(template.variables))
    throw invalidTemplate(
      'Variable copy loops (variables.copy) are not supported by Lazurite.',
      'properties.template.variables.copy',
    );
  for (const [name, out] of Object.entries(objectOrEmpty(template.outputs)))
    if ('copy' in objectOrEmpty(out))
      throw invalidTemplate(
        'Output copy loops are not supported by Lazurite.',
        `properties.template.outputs.${name}.copy`,
      );
  resources.forEach((r, i) => {
    if ('copy' in objectOrEmpty(objectOrEmpty(r).properties))
      throw invalidTemplate(
        'Property copy loops (properties.copy) are not supported by Lazurite.',
        `properties.template.resources[${String(i)}].properties.copy`,
      );
  });
}

/** One resource as written (condition first: a false one is left out, as ARM does). */
function instance(
  raw: Record<string, unknown>,
  scope: TemplateScope,
  loop?: string,
): TemplateResource | undefined {
  if ('condition' in raw) {
    const condition = evaluate(raw.condition, scope);
    if (typeof condition !== 'boolean') throw invalidTemplate("A resource's condition must be a boolean.");
    if (!condition) return undefined;
  }
  const rest = Object.fromEntries(
    Object.entries(raw).filter(([k]) => !['condition', 'copy', 'comments'].includes(k)),
  );
  const { type, name, apiVersion, dependsOn, ...body } = evaluate(rest, scope) as Record<string, unknown>;
  if (typeof type !== 'string' || typeof name !== 'string')
    throw invalidTemplate(
      'Every template resource needs a type and a name.',
      'properties.template.resources',
    );
  return {
    id: resourceId(scope, type, name),
    apiVersion: typeof apiVersion === 'string' ? apiVersion : '',
    body,
    dependsOn: (Array.isArray(dependsOn) ? dependsOn : []).map(String),
    ...(loop === undefined ? {} : { loop }),
  };
}

/** A resource with `copy`: `count` instances, each seeing copyIndex() (serial mode deploys in order anyway). */
function expand(raw: Record<string, unknown>, scope: TemplateScope): TemplateResource[] {
  if (!('copy' in raw)) {
    const one = instance(raw, scope);
    return one ? [one] : [];
  }
  const copy = objectOrEmpty(evaluate(raw.copy, scope));
  const { name, count } = copy;
  if (typeof name !== 'string' || name === '') throw invalidTemplate("A copy loop needs a 'name'.");
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_COPIES)
    throw invalidTemplate(`The copy loop '${name}' needs a 'count' from 0 to ${String(MAX_COPIES)}.`);
  const out: TemplateResource[] = [];
  for (let i = 0; i < count; i++) {
    const one = instance(
      raw,
      { ...scope, copyIndexes: { ...scope.copyIndexes, [name.toLowerCase()]: i }, loop: name },
      name,
    );
    if (one) out.push(one);
  }
  return out;
}

const sameId = (id: string, ref: string) =>
  id.toLowerCase() === ref.toLowerCase() || id.toLowerCase().endsWith(`/${ref.toLowerCase()}`);

/** Orders resources so each comes after what it depends on (a resource, or every instance of a copy loop). */
function order(resources: TemplateResource[]): TemplateResource[] {
  const matches = (r: TemplateResource, ref: string) =>
    sameId(r.id, ref) || r.loop?.toLowerCase() === ref.toLowerCase();
  const ordered: TemplateResource[] = [];
  const pending = [...resources];
  while (pending.length > 0) {
    const ready = pending.findIndex((r) =>
      r.dependsOn.every((d) => !pending.some((p) => p !== r && matches(p, d))),
    );
    if (ready < 0)
      throw invalidTemplate(
        'The template resources have a circular dependency.',
        'properties.template.resources',
      );
    ordered.push(...pending.splice(ready, 1));
  }
  return ordered;
}

/**
 * Evaluates parameters, variables and resources — `condition` and resource `copy` loops included — and orders the
 * resources; a dependency on a resource left out by its condition (or not in the template) is met.
 */
export function plan(
  template: Record<string, unknown>,
  given: Record<string, unknown>,
  scope: TemplateScope,
): TemplateResource[] {
  const raw = Array.isArray(template.resources) ? (template.resources as unknown[]) : [];
  refuseOtherCopies(template, raw);
  bindParameters(template, given, scope);
  for (const [name, v] of Object.entries(objectOrEmpty(template.variables)))
    scope.variables[name] = evaluate(v, scope);
  return order(raw.flatMap((r) => expand(objectOrEmpty(r), scope)));
}
