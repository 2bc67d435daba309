/** A byte range as HTTP states it: from `start`, through the inclusive `end` (undefined = to the end). */
export interface ByteRange {
  start: number;
  end?: number;
}

/** The inclusive byte span a range covers in a file of `size` bytes (`end < start` when it is empty). */
export function spanOf(size: number, range?: ByteRange): { start: number; end: number } {
  const start = Math.min(range?.start ?? 0, size);
  const end = Math.min(range?.end ?? size - 1, size - 1);
  return { start, end: Math.max(end, start - 1) };
}
