import { request } from 'node:https';
import type { AgentLink, SyncRequest, SyncResponse } from './agent-protocol.ts';

/** An AgentLink to a Lazurite server over HTTPS (`POST <server>/agent/v1/sync`), trusting the given CA. */
export function httpsAgentLink(server: string, token: string, caPem: string): AgentLink {
  const url = new URL('/agent/v1/sync', server);
  return {
    sync: (body: SyncRequest) =>
      new Promise<SyncResponse>((resolve, reject) => {
        const payload = Buffer.from(JSON.stringify(body));
        const req = request(
          url,
          {
            method: 'POST',
            ca: caPem,
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'content-length': String(payload.length),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              if (res.statusCode !== 200) {
                reject(new Error(`agent sync failed: HTTP ${String(res.statusCode)} ${text.slice(0, 300)}`));
                return;
              }
              try {
                resolve(JSON.parse(text) as SyncResponse);
              } catch (err) {
                reject(err instanceof Error ? err : new Error(String(err)));
              }
            });
          },
        );
        req.on('error', reject);
        req.end(payload);
      }),
  };
}
