import { request } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  FILE_BODY_TYPE,
  FILE_INFO_HEADER,
  type AgentLink,
  type FileResult,
  type SyncRequest,
  type SyncResponse,
} from './agent-protocol.ts';
import type { NodeFileInfo } from './port.ts';

/** An AgentLink to a Lazurite server over HTTPS (`POST <server>/agent/v1/...`), trusting the given CA. */
export function httpsAgentLink(server: string, token: string, caPem: string): AgentLink {
  const post = (path: string, body: unknown, stream?: { info: NodeFileInfo; bytes: Readable }) =>
    new Promise<string>((resolve, reject) => {
      const payload = Buffer.from(stream ? '' : JSON.stringify(body));
      const headers: Record<string, string> = stream
        ? {
            'content-type': FILE_BODY_TYPE,
            [FILE_INFO_HEADER]: Buffer.from(JSON.stringify(stream.info)).toString('base64'),
          }
        : { 'content-type': 'application/json', 'content-length': String(payload.length) };
      const req = request(
        new URL(path, server),
        {
          method: 'POST',
          ca: caPem,
          headers: { authorization: `Bearer ${token}`, ...headers },
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
      if (!stream) req.end(payload);
      else pipeline(stream.bytes, req).catch(reject);
    });
  return {
    sync: async (body: SyncRequest) => JSON.parse(await post('/agent/v1/sync', body)) as SyncResponse,
    fileResult: async (id: string, result: FileResult) => {
      await post(`/agent/v1/files/${encodeURIComponent(id)}`, result);
    },
    fileBody: async (id: string, info: NodeFileInfo, bytes: Readable) => {
      await post(`/agent/v1/files/${encodeURIComponent(id)}/body`, undefined, { info, bytes });
    },
  };
}
