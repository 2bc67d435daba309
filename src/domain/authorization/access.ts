import type { StoreTx } from '../../storage/port.ts';
import { DomainError } from '../errors.ts';
import { findBuiltInRole, roleGrants } from './roles.ts';
import { normalizeScope, scopeChain, scopeContains } from './scopes.ts';

/** Who is calling, as established by the token that came with the request. */
export interface Caller {
  objectId: string;
  tenantId: string;
  appId: string;
}

export function authorizationFailed(caller: Caller, action: string, scope: string): DomainError {
  return new DomainError(
    'forbidden',
    'AuthorizationFailed',
    `The client '${caller.appId}' with object id '${caller.objectId}' does not have authorization to perform action '${action}' over scope '${normalizeScope(scope)}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  );
}

/** Whether any role assigned to the caller at `scope` or above grants `action` (or, with `data`, the data action). */
export async function isPermitted(
  tx: StoreTx,
  caller: Caller,
  action: string,
  scope: string,
  data = false,
): Promise<boolean> {
  const assignments = await tx.listRoleAssignmentsAtScopes(scopeChain(scope));
  return assignments
    .filter((a) => a.principalId === caller.objectId.toLowerCase())
    .some((a) => {
      const role = findBuiltInRole(a.roleDefinitionName);
      return role !== undefined && (roleGrants(role, action) || (data && roleGrants(role, action, true)));
    });
}

/** Throws `AuthorizationFailed` unless the caller may perform `action` at `scope`. */
export async function requirePermission(
  tx: StoreTx,
  caller: Caller,
  action: string,
  scope: string,
  data = false,
): Promise<void> {
  if (!(await isPermitted(tx, caller, action, scope, data))) throw authorizationFailed(caller, action, scope);
}

/** Whether the caller holds any role assignment at, above or below `scope` (what makes a subscription visible). */
export async function hasAnyAssignmentAround(tx: StoreTx, caller: Caller, scope: string): Promise<boolean> {
  const mine = await tx.listRoleAssignmentsForPrincipal(caller.objectId);
  return mine.some((a) => scopeContains(a.scope, scope) || scopeContains(scope, a.scope));
}
