import type { ConnectionInfo } from '../src/app/main.ts';

/** An Entra ID token for the Batch data plane, for the well-known principal of a server's connection.json. */
export async function batchToken(c: ConnectionInfo): Promise<string> {
  const res = await fetch(`${c.authorityHost}/${c.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: c.clientId,
      client_secret: c.clientSecret,
      scope: 'https://batch.core.windows.net//.default',
    }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}
