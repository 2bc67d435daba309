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

/** The inclusive byte span a range covers in a file of `size` bytes (`end < start` when it is empty). */
export function spanOf(size: number, range?: NodeFileRange): { start: number; end: number } {
  const start = Math.min(range?.start ?? 0, size);
  const end = Math.min(range?.end ?? size - 1, size - 1);
  return { start, end: Math.max(end, start - 1) };
}
