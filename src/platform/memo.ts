/**
 * A cache of `make(key)` by key that starts over once it holds `limit` entries: for values that are costly to
 * make and asked for again and again (account keys as key objects, prepared SQL statements), where the set of
 * keys in use is small but not bounded by anything else.
 */
export function boundedMemo<V>(
  limit: number,
  make: (key: string) => V,
): { get(key: string): V; clear(): void } {
  const values = new Map<string, V>();
  return {
    get(key) {
      let v = values.get(key);
      if (v === undefined) {
        if (values.size >= limit) values.clear();
        v = make(key);
        values.set(key, v);
      }
      return v;
    },
    clear() {
      values.clear();
    },
  };
}
