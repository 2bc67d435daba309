import { createHmac } from 'node:crypto';

/** The storage service version blob reads are signed for (any version Azure Storage and Azurite accept). */
const STORAGE_VERSION = '2021-12-02';

/**
 * Headers that authorize a GET of one blob with the storage account's key (Azure Storage "Shared Key"
 * authorization for the Blob service): `x-ms-date`, `x-ms-version` and `Authorization: SharedKey account:sig`,
 * the signature an HMAC-SHA256 with the base64 key over the verb, the twelve standard header slots (all empty on
 * a bodiless GET), the canonicalized `x-ms-` headers and the canonicalized resource (`/account/path` plus the
 * query parameters, lower-cased and sorted).
 */
export function blobSharedKeyHeaders(
  url: string,
  accountName: string,
  key: string,
  now: Date,
): Record<string, string> {
  const u = new URL(url);
  const headers = { 'x-ms-date': now.toUTCString(), 'x-ms-version': STORAGE_VERSION };
  const canonicalHeaders = Object.entries(headers)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}:${v}\n`)
    .join('');
  const params = [...u.searchParams.entries()].map(([k, v]) => [k.toLowerCase(), v] as const);
  const names = [...new Set(params.map(([k]) => k))].sort();
  const query = names
    .map(
      (k) =>
        `\n${k}:${params
          .filter(([n]) => n === k)
          .map(([, v]) => v)
          .sort()
          .join(',')}`,
    )
    .join('');
  const resource = `/${accountName}${u.pathname}${query}`;
  const stringToSign = `GET\n${'\n'.repeat(11)}${canonicalHeaders}${resource}`;
  const signature = createHmac('sha256', Buffer.from(key, 'base64'))
    .update(stringToSign, 'utf8')
    .digest('base64');
  return { ...headers, authorization: `SharedKey ${accountName}:${signature}` };
}
