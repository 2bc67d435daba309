import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** How long a download may wait and how much it may bring. */
export interface DownloadLimits {
  /** Until the response headers arrive. */
  connectTimeoutMs: number;
  /** Between two chunks of the body. */
  idleTimeoutMs: number;
  /** Largest body accepted (a bigger Content-Length is refused before reading). */
  maxBytes: number;
}

export const DEFAULT_DOWNLOAD_LIMITS: DownloadLimits = {
  connectTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  maxBytes: 64 * 1024 ** 3,
};

/** Why a download stopped, worded for the user (the URL's query, e.g. a SAS, is never repeated). */
export class DownloadError extends Error {
  readonly reason: 'status' | 'timeout' | 'too-large' | 'network' | 'aborted';
  constructor(reason: DownloadError['reason'], message: string) {
    super(message);
    this.name = 'DownloadError';
    this.reason = reason;
  }
}

/** The URL without its query and fragment, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** A timer that aborts `controller` with `reason` unless re-armed or cleared in time. */
function watchdog(controller: AbortController, ms: number, reason: () => DownloadError) {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      controller.abort(reason());
    }, ms);
  };
  arm();
  const clear = () => {
    if (timer) clearTimeout(timer);
  };
  return { arm, clear };
}

/**
 * Downloads `url` (http or https) into `file` with a connect timeout, an idle timeout between chunks and a size
 * cap; `signal` cancels it; `headers` go with the request (e.g. a storage SharedKey authorization). Resolves with the
 * number of bytes written.
 */
export async function download(
  url: string,
  file: string,
  limits: DownloadLimits = DEFAULT_DOWNLOAD_LIMITS,
  signal?: AbortSignal,
  headers: Record<string, string> = {},
): Promise<number> {
  const shown = redactUrl(url);
  const controller = new AbortController();
  const stop = () => {
    controller.abort(new DownloadError('aborted', `Download of '${shown}' was cancelled.`));
  };
  if (signal?.aborted) stop();
  signal?.addEventListener('abort', stop, { once: true });
  const timeout = (what: string, ms: number) => () =>
    new DownloadError('timeout', `Download of '${shown}' timed out (${what} after ${ms} ms).`);
  const dog = watchdog(controller, limits.connectTimeoutMs, timeout('no response', limits.connectTimeoutMs));
  try {
    const res = await fetch(url, { signal: controller.signal, headers });
    if (!res.ok || !res.body) throw new DownloadError('status', `'${shown}' answered ${res.status}.`);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    const tooLarge = () =>
      new DownloadError('too-large', `'${shown}' is larger than the limit of ${limits.maxBytes} bytes.`);
    if (declared > limits.maxBytes) {
      void res.body.cancel().catch(() => undefined);
      throw tooLarge();
    }
    let bytes = 0;
    const idle = watchdog(controller, limits.idleTimeoutMs, timeout('no data', limits.idleTimeoutMs));
    dog.clear();
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        idle.arm();
        done(bytes > limits.maxBytes ? tooLarge() : null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body), counter, createWriteStream(file), {
        signal: controller.signal,
      });
    } finally {
      idle.clear();
    }
    return bytes;
  } catch (err) {
    const reason: unknown = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof DownloadError) throw reason;
    if (err instanceof DownloadError) throw err;
    throw new DownloadError('network', `'${shown}' could not be downloaded: ${(err as Error).message}`);
  } finally {
    dog.clear();
    signal?.removeEventListener('abort', stop);
  }
}
