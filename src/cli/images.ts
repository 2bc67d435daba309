import { SingleBar, Presets } from 'cli-progress';
import type { Config } from '../config/config.ts';
import type { BuildProgress } from '../content/rootfs/debootstrap.ts';
import { BUILDABLE, catalogKey } from '../domain/images/base-images.ts';
import { systemClock } from '../platform/clock.ts';
import { randomIds } from '../platform/ids.ts';
import { baseImageServiceFor } from '../app/main.ts';
import { withStore } from './store.ts';

function withImages<T>(
  config: Config,
  work: (images: ReturnType<typeof baseImageServiceFor>) => Promise<T>,
): Promise<T> {
  return withStore(config, 'image commands', (store) =>
    work(baseImageServiceFor(config, { store, clock: systemClock, ids: randomIds })),
  );
}

/** A progress bar over debootstrap's package stages (on a terminal), plain lines otherwise. */
function progressReporter(): { onProgress: (p: BuildProgress) => void; stop: () => void } {
  if (!process.stderr.isTTY) {
    const seen = new Set<string>();
    return {
      onProgress: (p) => {
        if (!seen.has(p.stage)) process.stderr.write(`${p.stage}...\n`);
        seen.add(p.stage);
      },
      stop: () => undefined,
    };
  }
  const bar = new SingleBar(
    { format: '{stage} [{bar}] {value}/{total}', stream: process.stderr },
    Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress: (p) => {
      const total = p.total ?? Math.max(p.done ?? 0, 1);
      if (!started) bar.start(total, 0, { stage: p.stage.padEnd(11) });
      started = true;
      bar.setTotal(total);
      bar.update(Math.min(p.done ?? 0, total), { stage: p.stage.padEnd(11) });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

export async function buildImage(
  config: Config,
  ref: string,
  options: { force: boolean; mirror: string | undefined; keyring: string | undefined },
): Promise<void> {
  const reporter = progressReporter();
  try {
    const image = await withImages(config, (images) =>
      images.build(ref, { ...options, onProgress: reporter.onProgress }),
    );
    reporter.stop();
    process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
  } finally {
    reporter.stop();
  }
}

export async function importImage(config: Config, ref: string, source: string): Promise<void> {
  const image = await withImages(config, (images) => images.import(ref, source));
  process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
}

export async function listImages(config: Config, json: boolean): Promise<void> {
  const rows = await withImages(config, (images) => images.list());
  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  for (const { entry, image } of rows) {
    const state =
      entry.osType === 'windows'
        ? 'listed (Windows: not runnable here)'
        : image
          ? `runnable (${image.source}, ${Math.round(image.sizeBytes / 1e6)} MB)`
          : Object.values(BUILDABLE).includes(catalogKey(entry) as never)
            ? 'listed (build it: lazurite images build)'
            : 'listed (no root file system: import one)';
    process.stdout.write(`${catalogKey(entry).padEnd(56)} ${entry.nodeAgentSkuId.padEnd(26)} ${state}\n`);
  }
}
