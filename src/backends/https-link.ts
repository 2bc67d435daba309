import { request } from 'node:https';
import type { AgentLink, FileResult, SyncRequest, SyncResponse } from './agent-protocol.ts';

/** An AgentLink to a Lazurite server over HTTPS (`POST <server>/agent/v1/...`), trusting the given CA. */
export function httpsAgentLink(server: string, token: string, caPem: string): AgentLink {
  const post = (path: string, body: unknown) =>
    new Promise<string>((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body));
      const req = request(
        new URL(path, server),
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
              reject(new Error(`agent ${path} failed: HTTP ${String(res.statusCode)} ${text.slice(0, 300)}`));
              return;
            }
            resolve(text);
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return {
    sync: async (body: SyncRequest) => JSON.parse(await post('/agent/v1/sync', body)) as SyncResponse,
    fileResult: async (id: string, result: FileResult) => {
      await post(`/agent/v1/files/${encodeURIComponent(id)}`, result);
    },
  };
}
