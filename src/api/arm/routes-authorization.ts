import type { AssignmentFilter } from '../../domain/authorization/assignments.ts';
import { DomainError, invalidInput } from '../../domain/errors.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmRoute } from './router.ts';
import { ARM_SPECS, objectOrEmpty, validateArmBody } from './validation.ts';
import { roleAssignmentToWire, roleDefinitionToWire } from './wire.ts';

const RA = '{*scope}/providers/Microsoft.Authorization/roleAssignments';
const RD = '{*scope}/providers/Microsoft.Authorization/roleDefinitions';

/** `$filter` forms Azure accepts on role assignment lists. */
export function parseAssignmentFilter(filter: string | undefined): AssignmentFilter {
  if (filter === undefined || filter.trim() === '') return { kind: 'all' };
  const f = filter.trim();
  if (/^atScope\(\)$/i.test(f)) return { kind: 'atScope' };
  const m = /^(?:principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))$/i.exec(f);
  const principalId = m?.[1] ?? m?.[2];
  if (principalId !== undefined) return { kind: 'principal', principalId };
  throw invalidInput(
    'UnsupportedQuery',
    `The filter '${filter}' is not supported. Supported filters are atScope(), principalId eq '{id}' and assignedTo('{id}').`,
    '$filter',
  );
}

function customRolesUnsupported(): never {
  throw new DomainError(
    'not-implemented',
    'NotImplemented',
    'Custom role definitions are not supported by Lazurite; use the built-in roles Owner, Contributor, Reader or User Access Administrator.',
  );
}

/** Microsoft.Authorization: role assignments at any scope and the built-in role definitions. */
export function authorizationRoutes(deps: ArmDeps): ArmRoute[] {
  const svc = deps.roleAssignments;
  return [
    {
      method: 'PUT',
      pattern: `${RA}/{name}`,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(
          deps.specs,
          ARM_SPECS.roleAssignments,
          'RoleAssignmentCreateParameters',
          body,
        );
        const { assignment, created } = await svc.create(
          caller,
          params.scope ?? '/',
          params.name ?? '',
          objectOrEmpty(input.properties),
        );
        return { status: created ? 201 : 200, body: roleAssignmentToWire(assignment) };
      },
    },
    {
      method: 'GET',
      pattern: `${RA}/{name}`,
      handler: async ({ caller, params }) => ({
        status: 200,
        body: roleAssignmentToWire(await svc.get(caller, params.scope, params.name ?? '')),
      }),
    },
    {
      method: 'DELETE',
      pattern: `${RA}/{name}`,
      handler: async ({ caller, params }) => {
        const deleted = await svc.delete(caller, params.scope, params.name ?? '');
        return deleted ? { status: 200, body: roleAssignmentToWire(deleted) } : { status: 204 };
      },
    },
    {
      method: 'GET',
      pattern: RA,
      handler: async ({ caller, params, query }) => {
        const list = await svc.list(caller, params.scope ?? '/', parseAssignmentFilter(query.$filter));
        return { status: 200, body: { value: list.map(roleAssignmentToWire) } };
      },
    },
    {
      method: 'GET',
      pattern: RD,
      handler: ({ params, query }) => {
        const filter = query.$filter?.trim();
        const byName = filter === undefined ? undefined : /^roleName\s+eq\s+'([^']*)'$/i.exec(filter)?.[1];
        const byType = filter === undefined ? undefined : /^type\s+eq\s+'([^']*)'$/i.exec(filter)?.[1];
        if (filter !== undefined && filter !== '' && byName === undefined && byType === undefined) {
          throw invalidInput('UnsupportedQuery', `The filter '${filter}' is not supported.`, '$filter');
        }
        const roles = svc
          .roleDefinitions()
          .filter((r) => byName === undefined || r.roleName.toLowerCase() === byName.toLowerCase())
          .filter((r) => byType === undefined || r.type.toLowerCase() === byType.toLowerCase());
        return Promise.resolve({
          status: 200,
          body: { value: roles.map((r) => roleDefinitionToWire(params.scope ?? '/', r)) },
        });
      },
    },
    {
      method: 'GET',
      pattern: `${RD}/{id}`,
      handler: ({ params }) =>
        Promise.resolve({
          status: 200,
          body: roleDefinitionToWire(params.scope ?? '/', svc.roleDefinition(params.id ?? '')),
        }),
    },
    { method: 'PUT', pattern: `${RD}/{id}`, handler: () => customRolesUnsupported() },
    { method: 'DELETE', pattern: `${RD}/{id}`, handler: () => customRolesUnsupported() },
  ];
}
