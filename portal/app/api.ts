/** The ARM and Batch REST calls the portal makes: the same wire APIs the Azure SDKs use, on this origin. */
import type { Session } from './session.ts';

export const BATCH_API_VERSION = '2024-07-01.20.0';
const API_VERSIONS: Record<string, string> = {
  'Microsoft.Compute': '2023-07-01',
  'Microsoft.Batch': '2024-07-01',
  'Microsoft.Storage': '2023-01-01',
};

/** A failed call, with what the server said: its code, message and the property it named (if any). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** `values` of a Batch error (PropertyName, Reason, ...) or ARM's `target`. */
  readonly values: Record<string, string>;
  constructor(status: number, code: string, message: string, values: Record<string, string>) {
    super(message);
    this.status = status;
    this.code = code;
    this.values = values;
  }

  /** The property the server named: Batch's `PropertyName` (e.g. `nodeAgentSKUId`) or ARM's `target`. */
  get property(): string | undefined {
    return this.values.PropertyName ?? this.values.target;
  }
}

interface BatchErrorBody {
  code?: string;
  message?: { value?: string };
  values?: { key: string; value: string }[];
}
interface ArmErrorBody {
  error?: { code?: string; message?: string; target?: string };
}

/** Batch messages end in "\nRequestId:…\nTime:…"; the portal shows the human part. */
function humanPart(message: string): string {
  return message.split(/\nRequestId:/)[0]?.trim() ?? message;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  let body: BatchErrorBody & ArmErrorBody = {};
  try {
    body = JSON.parse(text) as BatchErrorBody & ArmErrorBody;
  } catch {
    // not JSON: keep the status line
  }
  if (body.error) {
    const values: Record<string, string> = body.error.target ? { target: body.error.target } : {};
    return new ApiError(res.status, body.error.code ?? 'Error', body.error.message ?? text, values);
  }
  const values = Object.fromEntries((body.values ?? []).map((v) => [v.key, v.value]));
  return new ApiError(
    res.status,
    body.code ?? `HTTP${res.status}`,
    humanPart(body.message?.value ?? (text || res.statusText)),
    values,
  );
}

async function send(token: string, method: string, url: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json; odata=minimalmetadata';
  const res = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw await errorOf(res);
  return res;
}

function withVersion(path: string, version: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}api-version=${encodeURIComponent(version)}`;
}

/** A Batch data-plane call at the origin root (`/pools`, `/jobs/{id}/tasks`, ...). */
export async function batch<T>(s: Session, method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(s.batchToken, method, withVersion(path, BATCH_API_VERSION), body);
  return res.status === 204 || res.headers.get('content-length') === '0'
    ? (undefined as T)
    : ((await res.json()) as T);
}

/** A Batch file (node files API) as text. */
export async function batchText(s: Session, path: string): Promise<string> {
  return (await send(s.batchToken, 'GET', withVersion(path, BATCH_API_VERSION))).text();
}

/** Every item of a Batch list, following `odata.nextLink`. */
export async function batchList<T>(s: Session, path: string): Promise<T[]> {
  const out: T[] = [];
  let page = await batch<{ value: T[]; 'odata.nextLink'?: string }>(s, 'GET', path);
  out.push(...page.value);
  while (page['odata.nextLink'] !== undefined) {
    const next = new URL(page['odata.nextLink']);
    const res = await send(s.batchToken, 'GET', `${next.pathname}${next.search}`);
    page = (await res.json()) as { value: T[]; 'odata.nextLink'?: string };
    out.push(...page.value);
  }
  return out;
}

/** An ARM GET of a resource id (or a list under it); the api-version follows the provider in the path. */
export async function arm<T>(s: Session, path: string): Promise<T> {
  const provider = /\/providers\/([^/]+)/.exec(path)?.[1] ?? '';
  const res = await send(s.armToken, 'GET', withVersion(path, API_VERSIONS[provider] ?? '2022-12-01'));
  return (await res.json()) as T;
}

/** An ARM write (PUT, POST, DELETE) with an optional JSON body; the answer's JSON, or undefined when empty. */
export async function armSend<T>(
  s: Session,
  method: string,
  path: string,
  body?: unknown,
): Promise<T | undefined> {
  const provider = /\/providers\/([^/]+)/.exec(path)?.[1] ?? '';
  const res = await send(s.armToken, method, withVersion(path, API_VERSIONS[provider] ?? '2022-12-01'), body);
  const text = await res.text();
  return text === '' ? undefined : (JSON.parse(text) as T);
}

export async function armList<T>(s: Session, path: string): Promise<T[]> {
  return (await arm<{ value: T[] }>(s, path)).value;
}

/** The resource group's path, which most ARM reads start from. */
export function groupPath(s: Session): string {
  return `/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}`;
}

/** A readable message for anything thrown. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}
