import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import { oauthError, resolveAudience } from '../../domain/identity/principals.ts';
import type { IdentityDeps } from '../http/context.ts';
import { throttledAuth } from '../http/auth-throttle.ts';

type Flavor = 'v1' | 'v2' | 'adfs';

/** OpenID Connect metadata for one authority, shaped like Entra ID's (v1/v2) or AD FS's. */
function openIdConfiguration(origin: string, tenant: string, flavor: Flavor) {
  const authority = flavor === 'adfs' ? `${origin}/adfs` : `${origin}/${tenant}`;
  const oauth = flavor === 'v2' ? `${authority}/oauth2/v2.0` : `${authority}/oauth2`;
  const issuer = flavor === 'adfs' ? authority : flavor === 'v2' ? `${authority}/v2.0` : `${authority}/`;
  return {
    issuer,
    authorization_endpoint: `${oauth}/authorize`,
    token_endpoint: `${oauth}/token`,
    device_authorization_endpoint: `${oauth}/devicecode`,
    end_session_endpoint: `${oauth}/logout`,
    jwks_uri:
      flavor === 'adfs'
        ? `${authority}/discovery/keys`
        : `${authority}/discovery/${flavor === 'v2' ? 'v2.0/' : ''}keys`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    grant_types_supported: ['client_credentials'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    access_token_issuer: flavor === 'adfs' ? authority : `${origin}/${tenant}/`,
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'appid', 'ver'],
    tenant_region_scope: 'EU',
    cloud_instance_name: new URL(origin).host,
    ...(flavor === 'adfs' ? {} : { msgraph_host: new URL(origin).host }),
  };
}

function clientCredentials(request: FastifyRequest): {
  clientId: string;
  secret: string;
  grantType: string;
  target: string;
} {
  const form = (request.body ?? {}) as Record<string, unknown>;
  const str = (k: string) => (typeof form[k] === 'string' ? form[k] : undefined);
  let clientId = str('client_id');
  let secret = str('client_secret');
  const basic = /^Basic\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (basic?.[1]) {
    const [id, pw] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
    clientId = clientId ?? (id === undefined ? undefined : decodeURIComponent(id));
    secret = secret ?? (pw === undefined ? undefined : decodeURIComponent(pw));
  }
  const grantType = str('grant_type') ?? '';
  if (grantType !== 'client_credentials') {
    throw new DomainError(
      'invalid-input',
      'unsupported_grant_type',
      `AADSTS70003: The app requested an unsupported grant type '${grantType}'. Only client_credentials is supported.`,
      { values: { aadsts: '70003' } },
    );
  }
  if (clientId === undefined || clientId === '') {
    throw oauthError(
      'invalid_request',
      900144,
      "The request body must contain the following parameter: 'client_id'.",
    );
  }
  if (secret === undefined || secret === '') {
    throw oauthError(
      'invalid_client',
      7000216,
      "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
    );
  }
  const target = str('scope') ?? str('resource');
  if (target === undefined || target === '') {
    throw oauthError(
      'invalid_request',
      900144,
      "The request body must contain the following parameter: 'scope'.",
    );
  }
  return { clientId, secret, grantType, target };
}

async function issueToken(
  deps: IdentityDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  tenant: string | undefined,
  flavor: Flavor,
  origins: () => string[],
) {
  const { clientId, secret, target } = clientCredentials(request);
  const audience = resolveAudience(
    target,
    origins().map((o) => `${o}/`),
  );
  const { principal, tenant: home } = await throttledAuth(
    deps.authThrottle,
    request,
    `token|${clientId}`,
    {
      code: 'temporarily_unavailable',
      message:
        'AADSTS50196: The server terminated an operation because it encountered too many failed sign-ins from this client. Retry after the time in Retry-After.',
      values: { aadsts: '50196' },
    },
    () => deps.principals.authenticateClient(tenant, clientId, secret),
  );
  const origin = deps.publicOrigin();
  const iss = flavor === 'adfs' ? `${origin}/adfs` : `${origin}/${home.id}/`;
  const lifetime = deps.config.tokenLifetimeSeconds;
  const { token, expiresOn } = await deps.signer.issue(
    {
      aud: audience,
      iss,
      tid: home.id,
      oid: principal.objectId,
      appid: principal.appId,
      sub: principal.objectId,
      ver: '1.0',
    },
    lifetime,
  );
  void reply.header('cache-control', 'no-store, no-cache').header('pragma', 'no-cache');
  if (flavor === 'v2') {
    return { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: token };
  }
  const asText = flavor === 'v1';
  const num = (n: number) => (asText ? String(n) : n);
  return {
    token_type: 'Bearer',
    expires_in: num(lifetime),
    ext_expires_in: num(lifetime),
    expires_on: num(expiresOn),
    not_before: num(expiresOn - lifetime),
    resource: audience,
    access_token: token,
  };
}

/** Token endpoints (client credentials), OpenID metadata, JWKS and instance discovery. */
export function registerIdentityRoutes(
  app: FastifyInstance,
  deps: IdentityDeps,
  origins: () => string[],
): void {
  const origin = () => deps.publicOrigin();
  type TenantParams = { Params: { tenant: string } };

  app.get<TenantParams>('/:tenant/v2.0/.well-known/openid-configuration', (req) =>
    openIdConfiguration(origin(), req.params.tenant, 'v2'),
  );
  app.get<TenantParams>('/:tenant/.well-known/openid-configuration', (req) =>
    req.params.tenant.toLowerCase() === 'adfs'
      ? openIdConfiguration(origin(), 'adfs', 'adfs')
      : openIdConfiguration(origin(), req.params.tenant, 'v1'),
  );
  app.get('/:tenant/discovery/v2.0/keys', () => deps.signer.jwks);
  app.get('/:tenant/discovery/keys', () => deps.signer.jwks);
  app.post<TenantParams>('/:tenant/oauth2/v2.0/token', (req, reply) =>
    issueToken(deps, req, reply, req.params.tenant, 'v2', origins),
  );
  app.post<TenantParams>('/:tenant/oauth2/token', (req, reply) =>
    req.params.tenant.toLowerCase() === 'adfs'
      ? issueToken(deps, req, reply, undefined, 'adfs', origins)
      : issueToken(deps, req, reply, req.params.tenant, 'v1', origins),
  );
  app.get('/common/discovery/instance', () => {
    const host = new URL(origin()).host;
    return {
      tenant_discovery_endpoint: `${origin()}/common/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    };
  });
}
