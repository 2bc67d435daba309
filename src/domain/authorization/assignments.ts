import type { StoreTx } from '../../storage/port.ts';
import type { RoleAssignmentRecord } from '../../storage/records.ts';
import { GUID_PATTERN, isoNow, type DomainContext } from '../context.ts';
import { conflict, invalidInput, notFound } from '../errors.ts';
import { requireResourceGroup, requireSubscription } from '../resources/resources.ts';
import { requirePermission, type Caller } from './access.ts';
import { BUILT_IN_ROLES, findBuiltInRole, roleDefinitionGuid, type RoleDefinition } from './roles.ts';
import {
  normalizeScope,
  scopeChain,
  scopeContains,
  scopeResourceGroup,
  scopeSubscription,
} from './scopes.ts';

export interface RoleAssignmentInput {
  roleDefinitionId?: unknown;
  principalId?: unknown;
  principalType?: unknown;
  description?: unknown;
}

/** How a role-assignment list is narrowed, from the `$filter` Azure accepts. */
export type AssignmentFilter =
  { kind: 'all' } | { kind: 'atScope' } | { kind: 'principal'; principalId: string };

const PRINCIPAL_TYPES = ['User', 'Group', 'ServicePrincipal', 'ForeignGroup', 'Device'];

function assignmentNotFound(): Error {
  return notFound('RoleAssignmentNotFound', 'The role assignment does not exist.');
}

/** Checks the scope names something that exists: a subscription, a group in it, or a resource under one. */
async function requireScopeExists(tx: StoreTx, scope: string): Promise<void> {
  const sub = scopeSubscription(scope);
  if (sub === undefined) {
    if (normalizeScope(scope) === '/') return;
    throw invalidInput('InvalidScope', `The scope '${scope}' is not valid for a role assignment.`, 'scope');
  }
  await requireSubscription(tx, sub);
  const group = scopeResourceGroup(scope);
  if (group !== undefined) await requireResourceGroup(tx, sub, group);
}

export class RoleAssignmentService {
  private readonly ctx: DomainContext;
  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  roleDefinitions(): readonly RoleDefinition[] {
    return BUILT_IN_ROLES;
  }

  roleDefinition(guid: string): RoleDefinition {
    const role = findBuiltInRole(guid);
    if (!role) {
      throw notFound(
        'RoleDefinitionDoesNotExist',
        `The specified role definition with ID '${guid}' does not exist.`,
      );
    }
    return role;
  }

  /** PUT semantics: creates, or returns the identical existing assignment; `created` tells which. */
  async create(
    caller: Caller,
    scope: string,
    name: string,
    input: RoleAssignmentInput,
  ): Promise<{ assignment: RoleAssignmentRecord; created: boolean }> {
    if (!GUID_PATTERN.test(name)) {
      throw invalidInput(
        'InvalidRoleAssignmentId',
        `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`,
        'roleAssignmentName',
      );
    }
    const { roleGuid, principalId, principalType } = this.validateInput(input);
    return this.ctx.store.transaction(async (tx) => {
      await requireScopeExists(tx, scope);
      await requirePermission(tx, caller, 'Microsoft.Authorization/roleAssignments/write', scope);
      this.roleDefinition(roleGuid);
      if (!(await tx.findPrincipalByObjectId(principalId))) {
        throw invalidInput(
          'PrincipalNotFound',
          `Principal ${principalId.replace(/-/g, '')} does not exist in the directory ${caller.tenantId}. Check that you have the correct principal ID.`,
          'properties.principalId',
        );
      }
      const existing = await tx.findRoleAssignment(name);
      const same = (a: RoleAssignmentRecord) =>
        a.principalId === principalId &&
        a.roleDefinitionName === roleGuid &&
        scopeContains(a.scope, scope) &&
        scopeContains(scope, a.scope);
      if (existing) {
        if (same(existing)) return { assignment: existing, created: false };
        throw conflict(
          'RoleAssignmentUpdateNotPermitted',
          'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.',
        );
      }
      const twin = (await tx.listRoleAssignmentsAtScopes([scope])).find(same);
      if (twin) throw conflict('RoleAssignmentExists', 'The role assignment already exists.');
      const now = isoNow(this.ctx);
      const assignment: RoleAssignmentRecord = {
        name: name.toLowerCase(),
        scope: normalizeScope(scope),
        roleDefinitionName: roleGuid,
        principalId,
        principalType,
        description: typeof input.description === 'string' ? input.description : null,
        createdOn: now,
        updatedOn: now,
        createdBy: caller.objectId,
      };
      await tx.putRoleAssignment(assignment);
      return { assignment, created: true };
    });
  }

  private validateInput(input: RoleAssignmentInput) {
    if (typeof input.roleDefinitionId !== 'string' || input.roleDefinitionId === '') {
      throw invalidInput(
        'MissingRequiredProperty',
        "The property 'properties.roleDefinitionId' is required.",
        'properties.roleDefinitionId',
      );
    }
    const roleGuid = roleDefinitionGuid(input.roleDefinitionId);
    if (roleGuid === undefined) {
      throw invalidInput(
        'InvalidRoleDefinitionId',
        `The role definition ID '${input.roleDefinitionId}' is not valid.`,
        'properties.roleDefinitionId',
      );
    }
    if (typeof input.principalId !== 'string' || !GUID_PATTERN.test(input.principalId)) {
      throw invalidInput(
        'InvalidPrincipalId',
        "The property 'properties.principalId' must be the object id (a GUID) of a principal.",
        'properties.principalId',
      );
    }
    const principalType = input.principalType === undefined ? 'User' : input.principalType;
    if (typeof principalType !== 'string' || !PRINCIPAL_TYPES.includes(principalType)) {
      throw invalidInput(
        'InvalidPrincipalType',
        `The principal type must be one of ${PRINCIPAL_TYPES.join(', ')}.`,
        'properties.principalType',
      );
    }
    return { roleGuid, principalId: input.principalId.toLowerCase(), principalType };
  }

  get(caller: Caller, scope: string | undefined, name: string): Promise<RoleAssignmentRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const a = await tx.findRoleAssignment(name);
      if (!a || (scope !== undefined && normalizeScope(scope).toLowerCase() !== a.scope.toLowerCase())) {
        throw assignmentNotFound();
      }
      await requirePermission(tx, caller, 'Microsoft.Authorization/roleAssignments/read', a.scope);
      return a;
    });
  }

  list(caller: Caller, scope: string, filter: AssignmentFilter): Promise<RoleAssignmentRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      await requireScopeExists(tx, scope);
      await requirePermission(tx, caller, 'Microsoft.Authorization/roleAssignments/read', scope);
      const above = await tx.listRoleAssignmentsAtScopes(scopeChain(scope));
      const below = filter.kind === 'atScope' ? [] : await tx.listRoleAssignmentsUnder(scope);
      const byName = new Map([...above, ...below].map((a) => [a.name, a]));
      const all = [...byName.values()];
      return filter.kind === 'principal'
        ? all.filter((a) => a.principalId === filter.principalId.toLowerCase())
        : all;
    });
  }

  /** Returns the deleted assignment, or undefined when there was none (Azure answers 204 then). */
  delete(caller: Caller, scope: string | undefined, name: string): Promise<RoleAssignmentRecord | undefined> {
    return this.ctx.store.transaction(async (tx) => {
      const a = await tx.findRoleAssignment(name);
      if (!a || (scope !== undefined && normalizeScope(scope).toLowerCase() !== a.scope.toLowerCase())) {
        if (scope !== undefined)
          await requirePermission(tx, caller, 'Microsoft.Authorization/roleAssignments/delete', scope);
        return undefined;
      }
      await requirePermission(tx, caller, 'Microsoft.Authorization/roleAssignments/delete', a.scope);
      await tx.deleteRoleAssignment(name);
      return a;
    });
  }
}
