import { sharedKeyAllowed } from '../../domain/accounts/batch-accounts.ts';
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../domain/authorization/access.ts';
import { DomainError } from '../../domain/errors.ts';
import { RESOURCES } from '../../domain/identity/principals.ts';
import type { BatchAccountRecord } from '../../domain/records.ts';
import { callerFromBearer } from '../http/bearer.ts';
import type { BatchDeps } from '../http/context.ts';
import { signatureMatches } from './sharedkey.ts';

/** How a data-plane request was authenticated. Later rules (e.g. gallery-image pools need Entra ID) read this. */
export type BatchAuth = { scheme: 'SharedKey' } | { scheme: 'AAD'; caller: Caller };

const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

function authFailed(detail: string, status: 'unauthenticated' | 'forbidden' = 'forbidden'): DomainError {
  return new DomainError(
    status,
    'AuthenticationFailed',
    `Server failed to authenticate the request. Make sure the value of Authorization header is correctly formed including the signature.`,
    {
      values: { AuthenticationErrorDetail: detail },
    },
  );
}

function checkRequestDate(request: FastifyRequest, now: Date): void {
  const raw = request.headers['ocp-date'] ?? request.headers.date;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === '')
    throw authFailed('The request is missing the ocp-date or Date header.');
  const sent = Date.parse(value);
  if (Number.isNaN(sent)) throw authFailed(`The date '${value}' is not a valid RFC 1123 date.`);
  if (Math.abs(now.getTime() - sent) > MAX_CLOCK_SKEW_MS) {
    throw authFailed(
      `Request date header too old or too far in the future: '${value}'. It must be within 15 minutes of the server time (${now.toUTCString()}).`,
    );
  }
}

/** SharedKey as the domain allows it (sharedKeyAllowed: never in UserSubscription mode); AAD as the account lists. */
function requireMode(account: BatchAccountRecord, mode: 'SharedKey' | 'AAD'): void {
  const allowed =
    mode === 'SharedKey' ? sharedKeyAllowed(account) : account.allowedAuthenticationModes.includes(mode);
  if (allowed) return;
  throw authFailed(
    mode === 'SharedKey' && account.poolAllocationMode === 'UserSubscription'
      ? `The specified type of authentication SharedKey is not allowed for this account: account '${account.name}' is in UserSubscription pool allocation mode, where clients must use Microsoft Entra ID.`
      : `The authentication mode '${mode}' is not allowed for account '${account.name}' (allowedAuthenticationModes: ${account.allowedAuthenticationModes.join(', ')}).`,
  );
}

/** Authenticates a data-plane request for `account` by SharedKey or Entra ID bearer token. */
export async function authenticateBatch(
  request: FastifyRequest,
  account: BatchAccountRecord,
  deps: BatchDeps,
  origins: string[],
): Promise<BatchAuth> {
  const header = request.headers.authorization;
  if (header === undefined || header.trim() === '') {
    throw authFailed(
      'The Authorization header is missing. Use SharedKey or an Entra ID bearer token.',
      'unauthenticated',
    );
  }
  if (/^Bearer\s/i.test(header)) {
    requireMode(account, 'AAD');
    const caller = await callerFromBearer(header, [RESOURCES.batch], deps.signer, origins, deps.clock.now());
    return { scheme: 'AAD', caller };
  }
  const m = /^SharedKey\s+([^:\s]+):(\S+)$/i.exec(header.trim());
  if (!m?.[1] || !m[2])
    throw authFailed(
      "The Authorization header must be 'SharedKey <account>:<signature>' or 'Bearer <token>'.",
    );
  if (m[1].toLowerCase() !== account.name.toLowerCase()) {
    throw authFailed(
      `The account name '${m[1]}' in the Authorization header does not match the account '${account.name}' of the URL.`,
    );
  }
  requireMode(account, 'SharedKey');
  checkRequestDate(request, deps.clock.now());
  const [rawPath = '/', rawQuery = ''] = request.url.split(/\?(.*)/s);
  const signed = { method: request.method, rawPath, rawQuery, headers: request.headers };
  if (!signatureMatches(signed, account.name, m[2], [account.primaryKey, account.secondaryKey])) {
    throw authFailed(
      'The MAC signature found in the HTTP request is not the same as any computed signature.',
    );
  }
  return { scheme: 'SharedKey' };
}
