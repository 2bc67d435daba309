import { hashSecret, isLegacySecretHash, upgradeSecretHash, verifySecret } from '../../platform/secrets.ts';
import type { PrincipalRecord, TenantRecord } from '../../storage/records.ts';
import { DomainError, conflict, invalidInput } from '../errors.ts';
import { GUID_PATTERN, isoNow, type DomainContext } from '../context.ts';

/** OAuth2 failures, with the AADSTS number Entra ID reports for each. */
export type OAuthFailure = 'invalid_request' | 'invalid_client' | 'unauthorized_client' | 'invalid_resource';

export function oauthError(code: OAuthFailure, aadsts: number, message: string): DomainError {
  const category = code === 'invalid_client' ? 'unauthenticated' : 'invalid-input';
  return new DomainError(category, code, `AADSTS${aadsts}: ${message}`, {
    values: { aadsts: String(aadsts) },
  });
}

/** Token audiences (resources) this authority issues tokens for, by their canonical form. */
export const RESOURCES = {
  management: 'https://management.azure.com/',
  managementClassic: 'https://management.core.windows.net/',
  batch: 'https://batch.core.windows.net/',
} as const;

/**
 * Maps a v1 `resource` or a v2 `scope` (e.g. `https://batch.core.windows.net//.default`) to a known audience.
 * `extraResources` are further accepted audiences, such as the server's own ARM endpoint, which SDKs use
 * (`{endpoint}/.default`) when pointed at a custom endpoint.
 */
export function resolveAudience(resourceOrScope: string, extraResources: readonly string[] = []): string {
  const first = resourceOrScope.trim().split(/\s+/)[0] ?? '';
  const resource = first.replace(/\/?\.default$/i, '').replace(/\/+$/, '');
  const known = [...Object.values(RESOURCES), ...extraResources].find(
    (r) => r.replace(/\/+$/, '').toLowerCase() === resource.toLowerCase(),
  );
  if (!known) {
    throw oauthError(
      'invalid_resource',
      500011,
      `The resource principal named ${first} was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant.`,
    );
  }
  return known;
}

export interface NewPrincipal {
  tenantId: string;
  displayName: string;
  appId?: string;
  objectId?: string;
  secret?: string;
}

export class PrincipalService {
  private readonly ctx: DomainContext;
  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  /** Registers a service principal and returns it with its (only ever shown once) client secret. */
  async create(input: NewPrincipal): Promise<{ principal: PrincipalRecord; secret: string }> {
    for (const [field, value] of [
      ['appId', input.appId],
      ['objectId', input.objectId],
    ] as const) {
      if (value !== undefined && !GUID_PATTERN.test(value)) {
        throw invalidInput('InvalidParameter', `The ${field} '${value}' is not a GUID.`, field);
      }
    }
    const secret = input.secret ?? this.ctx.ids.secret(30).replace(/[+/=]/g, '').slice(0, 40);
    const salt = this.ctx.ids.uuid();
    const principal: PrincipalRecord = {
      objectId: (input.objectId ?? this.ctx.ids.uuid()).toLowerCase(),
      appId: (input.appId ?? this.ctx.ids.uuid()).toLowerCase(),
      tenantId: input.tenantId.toLowerCase(),
      displayName: input.displayName,
      secretSalt: salt,
      secretHash: await hashSecret(secret),
      createdAt: isoNow(this.ctx),
    };
    await this.ctx.store.transaction(async (tx) => {
      if (!(await tx.findTenant(principal.tenantId))) {
        throw invalidInput('TenantNotFound', `Tenant '${input.tenantId}' not found.`, 'tenantId');
      }
      if (await tx.findPrincipalByAppId(principal.appId)) {
        throw conflict(
          'PrincipalExists',
          `An application with identifier '${principal.appId}' already exists.`,
        );
      }
      await tx.addPrincipal(principal);
    });
    return { principal, secret };
  }

  /** The home tenant of an authenticated caller. */
  tenantOf(caller: { tenantId: string }): Promise<TenantRecord | undefined> {
    return this.ctx.store.transaction((tx) => tx.findTenant(caller.tenantId));
  }

  /**
   * The client-credentials check of the token endpoint. `tenant` is a tenant id, or undefined for the
   * single-authority ADFS endpoint, where the principal's own tenant applies.
   */
  async authenticateClient(
    tenant: string | undefined,
    clientId: string,
    secret: string,
  ): Promise<{ principal: PrincipalRecord; tenant: TenantRecord }> {
    const found = await this.ctx.store.transaction(async (tx) => {
      const tenantRecord = tenant === undefined ? undefined : await tx.findTenant(tenant);
      if (tenant !== undefined && !tenantRecord) {
        throw oauthError(
          'invalid_request',
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        );
      }
      const principal = await tx.findPrincipalByAppId(clientId);
      const home = tenantRecord ?? (principal && (await tx.findTenant(principal.tenantId)));
      if (!principal || !home || principal.tenantId !== home.id) {
        throw oauthError(
          'unauthorized_client',
          700016,
          `Application with identifier '${clientId}' was not found in the directory '${tenant ?? 'adfs'}'.`,
        );
      }
      return { principal, tenant: home };
    });
    // Checked outside the transaction: scrypt takes tens of milliseconds and must not hold the store.
    if (!(await verifySecret(secret, found.principal.secretHash, found.principal.secretSalt))) {
      throw oauthError(
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    }
    return found;
  }

  /**
   * Wraps every client secret hash stored before scrypt (one round of sha256) in scrypt, so a stolen database
   * gives an attacker no cheap hashes. Run at start-up; each row is replaced only if it is still the one read.
   */
  async upgradeSecretHashes(): Promise<number> {
    const legacy = await this.ctx.store.transaction(async (tx) =>
      (await tx.listPrincipals()).filter((p) => isLegacySecretHash(p.secretHash)),
    );
    let upgraded = 0;
    for (const p of legacy) {
      const wrapped = await upgradeSecretHash(p.secretHash);
      const done = await this.ctx.store.transaction((tx) =>
        tx.replacePrincipalSecretHash(p.appId, p.secretHash, wrapped),
      );
      if (done) upgraded++;
    }
    return upgraded;
  }
}
