/**
 * The agent side of a Batch task's file transfers: `resourceFiles` downloaded into the working directory before
 * the command line runs, `outputFiles` uploaded to Azure Blob storage after it exits. Transfer problems are
 * returned, never thrown, as the task failure Batch reports, with Batch's codes from TaskFailureInformationCodes
 * (https://learn.microsoft.com/dotnet/api/microsoft.azure.batch.common.taskfailureinformationcodes): BlobNotFound,
 * BlobAccessDenied, BlobDownloadMiscError, BlobDownloadTimedOut, ResourceFileCreateFailed, ResourceFileWriteFailed;
 * and for uploads FileUploadMiscError ("The compute node hit an unexpected error when uploading Output Files"), the
 * code real Batch reports for a failed output upload such as a SAS without write permission (Azure/Batch issues
 * #128, #171), rather than an invented `FileUploadFailed`. Details use Batch's `BlobSource` and `FilePath` names.
 * Shown URLs never carry their query string: it holds the SAS.
 */
import { posix } from 'node:path';
import { AnonymousCredential, ContainerClient, newPipeline, type BlobHTTPHeaders } from '@azure/storage-blob';
import { NODE_ROOT_DIR, NodeFileNotFound, type NodeFileInfo } from './port.ts';

/** Wire shapes (BatchService.json 2022-10-01.16.0 ResourceFile / OutputFile), already validated against the spec by the server. */
export interface ResourceFileSpec {
  httpUrl?: string;
  storageContainerUrl?: string;
  autoStorageContainerName?: string;
  blobPrefix?: string;
  filePath?: string;
  fileMode?: string;
}

export interface OutputFileSpec {
  filePattern: string;
  destination: {
    container?: { path?: string; containerUrl: string; uploadHeaders?: { name: string; value?: string }[] };
  };
  uploadOptions: { uploadCondition: 'tasksuccess' | 'taskfailure' | 'taskcompletion' };
}

/** How the transfer reaches a node's file system; paths are relative to the node root dir /mnt/batch/tasks. */
export interface NodeFileAccess {
  /** Creates parent folders. */
  writeFile(path: string, content: Buffer, mode: number | undefined): Promise<void>;
  listFiles(dir: string, recursive: boolean): Promise<NodeFileInfo[]>;
  readFile(path: string): Promise<Buffer>;
}

export interface TransferFailure {
  category: 'usererror' | 'servererror';
  code: string;
  message: string;
  details?: { name: string; value: string }[];
}

export interface TransferOptions {
  /** Limit for each storage request (a listing, one blob's download or upload); default 60 s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** ResourceFile.fileMode: "If this property is not specified for a Linux Compute Node, then a default value of 0770 is applied". */
const DEFAULT_FILE_MODE = 0o770;

/** Carries a failure out of nested transfer code to the exported functions, which return it. */
class TransferFailed extends Error {
  readonly failure: TransferFailure;
  constructor(failure: TransferFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

/** Runs a transfer step, returning the failure it raised. */
async function attempt(run: () => Promise<void>): Promise<TransferFailure | undefined> {
  try {
    await run();
    return undefined;
  } catch (err) {
    if (err instanceof TransferFailed) return err.failure;
    throw err;
  }
}

/** A URL as it may be shown: no query string (the SAS), fragment or user info. */
export function redactUrl(url: string): string {
  const u = URL.parse(url);
  return u
    ? `${u.protocol}//${u.host}${u.pathname}`
    : url.replace(/[?#].*$/s, '').replace(/\/\/[^/@]*@/, '//');
}

const HEADLINES: Record<string, string> = {
  BlobNotFound: 'One of the specified Azure Blob(s) is not found',
  BlobAccessDenied: 'Access for one of the specified Azure Blob(s) is denied',
  BlobDownloadMiscError:
    'Miscellaneous error encountered while downloading one of the specified Azure Blob(s)',
  BlobDownloadTimedOut: 'The download of one of the specified Azure Blob(s) timed out',
  ResourceFileWriteFailed: 'The compute node could not write a resource file',
  ResourceFileCreateFailed: 'The compute node could not create a resource file',
  FileUploadMiscError: 'Encountered an error while uploading output files',
};

/** What went wrong; `serverSide` makes it a `servererror` (the node or the server is at fault, not the user). */
interface Problem {
  reason: string;
  status?: number;
  storageCode?: string;
  timedOut?: boolean;
  serverSide?: boolean;
}

/** A failure naming `url` (already redacted) in its message; `details` without undefined values. */
function failed(code: string, problem: Problem, url: string, details: Record<string, string | undefined>) {
  const status = problem.status?.toString();
  const where = [url, status && `HTTP status ${status}`]
    .filter((s) => s !== undefined && s !== '')
    .join(', ');
  const all = { ...details, HttpStatusCode: status, StorageErrorCode: problem.storageCode };
  return new TransferFailed({
    category: problem.serverSide === true ? 'servererror' : 'usererror',
    code,
    message: `${HEADLINES[code] ?? code}: ${problem.reason}${where === '' ? '' : ` (${where})`}.`,
    details: Object.entries(all).flatMap(([name, value]) => (value === undefined ? [] : [{ name, value }])),
  });
}

const nodePath = (path: string): string => `${NODE_ROOT_DIR}/${path}`;

/** A resource file failure, with the details Batch reports (`BlobSource`, `FilePath`). */
const downloadFailed = (code: string, problem: Problem, source: string, filePath: string) =>
  failed(code, problem, source, { BlobSource: source, FilePath: nodePath(filePath) });

/** The Batch code for a failed download request. */
function downloadCode(problem: Problem): string {
  if (problem.timedOut === true) return 'BlobDownloadTimedOut';
  if (problem.status === 404) return 'BlobNotFound';
  if (problem.status === 401 || problem.status === 403) return 'BlobAccessDenied';
  return 'BlobDownloadMiscError';
}

/** What went wrong in a request that failed without a usable response (never the raw message: it may hold a URL). */
function describeError(err: unknown): Problem {
  const e = err as {
    statusCode?: unknown;
    code?: unknown;
    name?: unknown;
    cause?: { code?: unknown };
  } | null;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const storageCode = str(e?.code);
  if (typeof e?.statusCode === 'number') {
    return { reason: `the service answered ${storageCode ?? 'an error'}`, status: e.statusCode, storageCode };
  }
  return { reason: `the request failed (${str(e?.cause?.code) ?? storageCode ?? str(e?.name) ?? 'Error'})` };
}

/** Runs one storage request under its own timeout; `fail` turns what went wrong into a failure. */
async function guarded<T>(
  timeoutMs: number,
  run: (signal: AbortSignal) => Promise<T>,
  fail: (problem: Problem) => TransferFailed,
): Promise<T> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return await run(signal);
  } catch (err) {
    if (err instanceof TransferFailed) throw err;
    throw fail(
      signal.aborted ? { reason: `no answer within ${timeoutMs} ms`, timedOut: true } : describeError(err),
    );
  }
}

/** Whether `url` is an absolute http(s) URL; else why not. */
function badUrl(url: string): string | undefined {
  const parsed = URL.parse(url);
  if (!parsed) return 'the URL is malformed';
  return /^https?:$/.test(parsed.protocol) ? undefined : `unsupported URL scheme '${parsed.protocol}'`;
}

/** A blob container client for a container URL (with its SAS), with bounded retries. */
export function containerClient(url: string): ContainerClient {
  const retryOptions = { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000 };
  return new ContainerClient(url, newPipeline(new AnonymousCredential(), { retryOptions }));
}

interface Download {
  access: NodeFileAccess;
  timeoutMs: number;
  /** The task working directory, relative to the node root. */
  wd: string;
  mode: number;
}

/** `base/rel` normalised, which must stay inside the working directory (and not be it when naming a file). */
function insidePath(d: Download, base: string, rel: string, isFile: boolean, source: string): string {
  const joined = posix.normalize(posix.join(base, rel)).replace(/\/+$/, '');
  const inside = joined.startsWith(`${d.wd}/`) || (!isFile && joined === d.wd);
  if (rel.startsWith('/') || rel.includes('\0') || !inside) {
    const reason = `'${rel}' is not a relative path inside the task working directory`;
    throw downloadFailed('ResourceFileCreateFailed', { reason }, source, base);
  }
  return joined;
}

async function fetchAndWrite(
  d: Download,
  source: string,
  target: string,
  get: (s: AbortSignal) => Promise<Buffer>,
) {
  const content = await guarded(d.timeoutMs, get, (p) => downloadFailed(downloadCode(p), p, source, target));
  try {
    await d.access.writeFile(target, content, d.mode);
  } catch (err) {
    const problem = { reason: err instanceof Error ? err.message : String(err), serverSide: true };
    throw downloadFailed('ResourceFileWriteFailed', problem, source, target);
  }
}

async function downloadHttp(d: Download, url: string, filePath: string | undefined): Promise<void> {
  const source = redactUrl(url);
  if (filePath === undefined || filePath === '') {
    throw downloadFailed('ResourceFileCreateFailed', { reason: 'httpUrl needs a filePath' }, source, d.wd);
  }
  const target = insidePath(d, d.wd, filePath, true, source);
  const invalid = badUrl(url);
  if (invalid !== undefined)
    throw downloadFailed('BlobDownloadMiscError', { reason: invalid }, source, target);
  await fetchAndWrite(d, source, target, async (signal) => {
    const res = await fetch(url, { signal, redirect: 'follow' });
    if (res.ok) return Buffer.from(await res.arrayBuffer());
    await res.body?.cancel();
    const problem = { reason: `the server answered ${res.status} ${res.statusText}`, status: res.status };
    throw downloadFailed(downloadCode(problem), problem, source, target);
  });
}

/** Every blob of the container (under the prefix) to `filePath/<blob name>`. */
async function downloadContainer(d: Download, url: string, prefix?: string, filePath = ''): Promise<void> {
  const source = redactUrl(url);
  const dir = insidePath(d, d.wd, filePath, false, source);
  const invalid = badUrl(url);
  if (invalid !== undefined) throw downloadFailed('BlobDownloadMiscError', { reason: invalid }, source, dir);
  const container = containerClient(url);
  const list = async (abortSignal: AbortSignal) => {
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix, abortSignal })) {
      if (!blob.name.endsWith('/')) names.push(blob.name);
    }
    return names;
  };
  const names = await guarded(d.timeoutMs, list, (p) => downloadFailed(downloadCode(p), p, source, dir));
  for (const name of names) {
    const blob = container.getBlobClient(name);
    const blobSource = redactUrl(blob.url);
    const target = insidePath(d, dir, name, true, blobSource);
    await fetchAndWrite(d, blobSource, target, (abortSignal) =>
      blob.downloadToBuffer(0, undefined, { abortSignal }),
    );
  }
}

async function downloadOne(file: ResourceFileSpec, base: Omit<Download, 'mode'>): Promise<void> {
  const { httpUrl, storageContainerUrl, autoStorageContainerName: auto, fileMode } = file;
  const given = [httpUrl, storageContainerUrl, auto].filter((s) => s !== undefined);
  const shown = redactUrl(given[0] ?? '');
  const fail = (code: string, problem: Problem) => downloadFailed(code, problem, shown, base.wd);
  if (given.length !== 1) {
    const reason = 'it needs exactly one of httpUrl, storageContainerUrl and autoStorageContainerName';
    throw fail('BlobDownloadMiscError', { reason });
  }
  if (fileMode !== undefined && !/^0?[0-7]{1,4}$/.test(fileMode)) {
    throw fail('ResourceFileCreateFailed', { reason: `invalid fileMode '${fileMode}'` });
  }
  const d = { ...base, mode: fileMode === undefined ? DEFAULT_FILE_MODE : parseInt(fileMode, 8) };
  if (httpUrl !== undefined) await downloadHttp(d, httpUrl, file.filePath);
  else if (storageContainerUrl !== undefined) {
    await downloadContainer(d, storageContainerUrl, file.blobPrefix, file.filePath);
  } else {
    // The server replaces autoStorageContainerName with the container's SAS URL when it can.
    const reason = `the Batch account has no auto-storage account this server knows, so container '${shown}' cannot be reached (set the account's autoStorage.storageAccountId and LAZURITE_STORAGE_ACCOUNTS)`;
    throw fail('BlobDownloadMiscError', { reason });
  }
}

/** A node-relative folder normalised: no empty, `.` or `..` segments, no leading or trailing `/`. */
const cleanDir = (dir: string): string => posix.normalize(`/${dir}/`).slice(1, -1);

/**
 * Downloads a task's resource files into its working directory (relative to the node root, e.g.
 * `workitems/job1/job-1/task1/wd`), in order, stopping at the first failure, which it returns.
 */
export async function downloadResourceFiles(
  files: ResourceFileSpec[],
  taskWorkingDir: string,
  access: NodeFileAccess,
  options: TransferOptions = {},
): Promise<TransferFailure | undefined> {
  const base = { access, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, wd: cleanDir(taskWorkingDir) };
  return attempt(async () => {
    for (const file of files) await downloadOne(file, base);
  });
}

// ---- output files

/**
 * A Batch file pattern segment as a regular expression: `*` any run of characters, `?` one character, `[abc]`,
 * `[a-c]` and `[!abc]` one character; a `**` segment any number of directories. Wildcards do not match a leading
 * `.`, which only a literal `.` matches, as the OutputFile.filePattern documentation says.
 */
export function patternToRegExp(pattern: string): RegExp {
  const segments = pattern.split('/');
  const parts = segments.map((seg, index) => {
    const last = index === segments.length - 1;
    // `**` spans directories (none starting with `.`); as the last segment, every file below them too.
    if (seg === '**') return last ? '(?!\\.)[^/]+(?:/(?!\\.)[^/]+)*' : '(?:(?!\\.)[^/]+/)*';
    return segmentToRegExp(seg) + (last ? '' : '/');
  });
  return new RegExp(`^${parts.join('')}$`);
}

function segmentToRegExp(seg: string): string {
  let out = /^[*?[]/.test(seg) ? '(?!\\.)' : '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charAt(i);
    // A `]` right after `[` (or `[!`) belongs to the set, as in shell globs.
    const close = c === '[' ? seg.indexOf(']', seg.charAt(i + 1) === '!' ? i + 3 : i + 2) : -1;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (close > 0) {
      let body = seg.slice(i + 1, close);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return out;
}

const hasWildcard = (s: string): boolean => /[*?[]/.test(s);

function conditionMatches(condition: string, outcome: 'success' | 'failure'): boolean {
  const c = condition.toLowerCase();
  return c === 'taskcompletion' || c === `task${outcome}`;
}

/** An output file failure: always FileUploadMiscError (see the top of this file). */
function uploadFailed(spec: OutputFileSpec, problem: Problem, file?: string, blob?: string): TransferFailed {
  const details = { FilePattern: spec.filePattern, FilePath: file && nodePath(file), BlobDestination: blob };
  return failed('FileUploadMiscError', problem, blob ?? '', details);
}

/** The Put Blob headers the SDK exposes (plain or `x-ms-blob-` names) and `x-ms-meta-*`; others are ignored. */
function blobHeaders(headers: { name: string; value?: string }[] = []) {
  const blobHTTPHeaders: Record<string, string> = {};
  const metadata: Record<string, string> = {};
  const fields: Record<string, keyof BlobHTTPHeaders> = {
    'content-type': 'blobContentType',
    'content-encoding': 'blobContentEncoding',
    'content-language': 'blobContentLanguage',
    'content-disposition': 'blobContentDisposition',
    'cache-control': 'blobCacheControl',
  };
  for (const { name, value = '' } of headers) {
    const field = fields[name.toLowerCase().replace(/^x-ms-blob-/, '')];
    if (name.toLowerCase().startsWith('x-ms-meta-')) metadata[name.slice('x-ms-meta-'.length)] = value;
    else if (field !== undefined) blobHTTPHeaders[field] = value;
  }
  return { blobHTTPHeaders: blobHTTPHeaders as BlobHTTPHeaders, metadata };
}

/**
 * The files a pattern names, each with its blob name. Relative patterns start at the working dir (`<taskDir>/wd`),
 * so `../stdout.txt` names the task's stdout; absolute ones must be under the node root; all stay in the task dir.
 */
async function matchFiles(spec: OutputFileSpec, taskDir: string, access: NodeFileAccess) {
  const { filePattern: pattern, destination } = spec;
  const rel = (
    pattern.startsWith('/')
      ? posix.relative(NODE_ROOT_DIR, posix.normalize(pattern))
      : posix.normalize(posix.join(taskDir, 'wd', pattern))
  ).replace(/\/+$/, '');
  if (!rel.startsWith(`${taskDir}/`)) {
    throw uploadFailed(spec, { reason: 'the file pattern must name files inside the task directory' });
  }
  const segments = rel.split('/');
  const firstWild = segments.findIndex(hasWildcard);
  // Files are named relative to the folder before the first wildcard (or the file's folder without wildcards).
  const baseDir = segments.slice(0, firstWild < 0 ? -1 : firstWild).join('/');
  const rest = segments.slice(firstWild < 0 ? -1 : firstWild);
  let listed: NodeFileInfo[];
  try {
    listed = await access.listFiles(baseDir, firstWild >= 0 && (rest.length > 1 || rest.includes('**')));
  } catch (err) {
    if (err instanceof NodeFileNotFound) return [];
    throw uploadFailed(spec, { reason: `the folder ${baseDir} could not be listed`, serverSide: true });
  }
  const prefix = destination.container?.path?.replace(/\/+$/, '') ?? '';
  if (firstWild < 0) {
    // No wildcard: `path` is the blob name itself.
    const found = listed.some((f) => !f.isDirectory && f.name === rel);
    return found ? [{ file: rel, blob: prefix === '' ? posix.basename(rel) : prefix }] : [];
  }
  const re = patternToRegExp(rest.join('/'));
  return listed.flatMap((f) => {
    const name = posix.relative(baseDir, f.name);
    return f.isDirectory || !re.test(name)
      ? []
      : [{ file: f.name, blob: prefix === '' ? name : `${prefix}/${name}` }];
  });
}

async function uploadSpec(spec: OutputFileSpec, taskDir: string, access: NodeFileAccess, timeoutMs: number) {
  const dest = spec.destination.container;
  if (dest === undefined)
    throw uploadFailed(spec, { reason: 'the output file has no container destination' });
  const invalid = badUrl(dest.containerUrl);
  if (invalid !== undefined) throw uploadFailed(spec, { reason: `containerUrl: ${invalid}` });
  const container = containerClient(dest.containerUrl);
  const options = blobHeaders(dest.uploadHeaders);
  for (const { file, blob } of await matchFiles(spec, taskDir, access)) {
    const client = container.getBlockBlobClient(blob);
    const shown = redactUrl(client.url);
    let content: Buffer;
    try {
      content = await access.readFile(file);
    } catch {
      throw uploadFailed(spec, { reason: 'the file could not be read', serverSide: true }, file, shown);
    }
    const upload = (abortSignal: AbortSignal) => client.uploadData(content, { ...options, abortSignal });
    await guarded(timeoutMs, upload, (problem) => uploadFailed(spec, problem, file, shown));
  }
}

/**
 * Uploads a task's output files after its process exited (`outcome`: exit code 0 or not). `taskDir` is relative
 * to the node root (e.g. `workitems/job1/job-1/task1`) and holds stdout.txt, stderr.txt and `wd/`. Every spec
 * whose upload condition matches is tried, even after a failure; the first failure is returned.
 */
export async function uploadOutputFiles(
  files: OutputFileSpec[],
  outcome: 'success' | 'failure',
  taskDir: string,
  access: NodeFileAccess,
  options: TransferOptions = {},
): Promise<TransferFailure | undefined> {
  const dir = cleanDir(taskDir);
  let first: TransferFailure | undefined;
  for (const spec of files) {
    if (!conditionMatches(spec.uploadOptions.uploadCondition, outcome)) continue;
    const failure = await attempt(() =>
      uploadSpec(spec, dir, access, options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    );
    first ??= failure;
  }
  return first;
}
