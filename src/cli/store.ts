import type { Config } from '../config/config.ts';
import { openStateStore } from '../app/main.ts';
import type { Store } from '../storage/port.ts';

/** Runs `work` on the data dir's store (a running server may share it) and closes it afterwards. */
export async function withStore<T>(
  config: Config,
  what: string,
  work: (store: Store) => Promise<T>,
): Promise<T> {
  if (config.inMemory) throw new Error(`${what} needs a data dir on disk`);
  const store = await openStateStore(config);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
