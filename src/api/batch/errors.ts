import { DomainError } from '../../domain/errors.ts';
import { CATEGORY_STATUS, type WireError } from '../http/errors.ts';

/** Codes that differ between the domain's vocabulary and the Batch service's. */
const BATCH_CODES: Record<string, string> = { InvalidRequestContent: 'InvalidRequestBody' };
/** Token failures all surface as AuthenticationFailed, with the reason in AuthenticationErrorDetail. */
const TOKEN_CODES = new Set([
  'ExpiredAuthenticationToken',
  'InvalidAuthenticationToken',
  'InvalidAuthenticationTokenAudience',
  'InvalidAuthenticationTokenTenant',
]);

/** Batch's envelope: top-level {code, message:{lang,value}, values:[{key,value}]}, never wrapped. */
export function toBatchError(err: unknown, requestId: string, now: Date, origin: string): WireError {
  const metadata = `${origin}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element`;
  const stamp = `\nRequestId:${requestId}\nTime:${now.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z')}`;
  if (err instanceof DomainError) {
    const tokenFailure = TOKEN_CODES.has(err.code);
    const code = tokenFailure ? 'AuthenticationFailed' : (BATCH_CODES[err.code] ?? err.code);
    const values = Object.entries(err.values)
      .filter(([k]) => k !== 'aadsts')
      .map(([key, value]) => ({ key, value }));
    if (err.target !== undefined && !values.some((v) => v.key === 'PropertyName'))
      values.unshift({ key: 'PropertyName', value: err.target });
    if (tokenFailure) values.push({ key: 'AuthenticationErrorDetail', value: err.message });
    return {
      status: CATEGORY_STATUS[err.category],
      body: {
        'odata.metadata': metadata,
        code,
        message: {
          lang: 'en-US',
          value: `${tokenFailure ? 'Server failed to authenticate the request.' : err.message}${stamp}`,
        },
        ...(values.length > 0 ? { values } : {}),
      },
    };
  }
  return {
    status: 500,
    body: {
      'odata.metadata': metadata,
      code: 'InternalError',
      message: {
        lang: 'en-US',
        value: `Server encountered an internal error. Please try again after some time.${stamp}`,
      },
    },
  };
}
