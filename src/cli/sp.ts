import type { Config } from '../config/config.ts';
import { BUILT_IN_ROLES } from '../domain/authorization/roles.ts';
import { normalizeScope } from '../domain/authorization/scopes.ts';
import { WELL_KNOWN } from '../domain/environment/well-known.ts';
import { PrincipalService } from '../domain/identity/principals.ts';
import { systemClock } from '../platform/clock.ts';
import { randomIds } from '../platform/ids.ts';
import { openStateStore } from '../app/main.ts';

/**
 * `lazurite sp create`: registers a service principal in the data dir's store (the server may be running;
 * SQLite serialises the writers) and optionally gives it a built-in role, as an operator would in the portal.
 */
export async function createServicePrincipal(
  config: Config,
  opts: { name: string; tenant?: string; role?: string; scope?: string },
): Promise<Record<string, string>> {
  if (config.inMemory)
    throw new Error(
      'sp create needs a data dir on disk; an in-memory server keeps no principals between processes',
    );
  const role =
    opts.role === undefined
      ? undefined
      : BUILT_IN_ROLES.find((r) => r.roleName.toLowerCase() === opts.role?.toLowerCase());
  if (opts.role !== undefined && !role)
    throw new Error(`unknown role '${opts.role}' (Owner, Contributor, Reader, User Access Administrator)`);
  const store = await openStateStore(config);
  try {
    const ctx = { store, clock: systemClock, ids: randomIds };
    const tenantId = opts.tenant ?? WELL_KNOWN.tenantId;
    const { principal, secret } = await new PrincipalService(ctx).create({
      tenantId,
      displayName: opts.name,
    });
    const out: Record<string, string> = {
      displayName: principal.displayName,
      clientId: principal.appId,
      clientSecret: secret,
      objectId: principal.objectId,
      tenantId: principal.tenantId,
    };
    if (role) {
      const scope = normalizeScope(opts.scope ?? `/subscriptions/${WELL_KNOWN.subscriptionId}`);
      const now = systemClock.now().toISOString();
      await store.transaction((tx) =>
        tx.putRoleAssignment({
          name: randomIds.uuid(),
          scope,
          roleDefinitionName: role.name,
          principalId: principal.objectId,
          principalType: 'ServicePrincipal',
          description: 'created by lazurite sp create',
          createdOn: now,
          updatedOn: now,
          createdBy: null,
        }),
      );
      out.role = role.roleName;
      out.scope = scope;
    }
    return out;
  } finally {
    await store.close();
  }
}
