import type { NodeExecutor, NodeFileInfo, NodeFileRange } from './port.ts';

/** A node file read whole into memory: for small files only (tests, resource and output file transfers). */
export async function readWhole(
  x: Pick<NodeExecutor, 'readFile'>,
  nodeId: string,
  path: string,
  range?: NodeFileRange,
): Promise<{ content: Buffer; info: NodeFileInfo }> {
  const { info, body } = await x.readFile(nodeId, path, range);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return { content: Buffer.concat(chunks), info };
}
