/**
 * ARM scopes: "/", "/subscriptions/{s}", "/subscriptions/{s}/resourceGroups/{g}", and resource ids below it.
 * A role assignment at a scope applies to that scope and everything under it.
 */
export function normalizeScope(scope: string): string {
  const trimmed = `/${scope.trim().replace(/^\/+/, '').replace(/\/+$/, '')}`;
  return trimmed;
}

/** The scope and all its ancestors, root first. */
export function scopeChain(scope: string): string[] {
  const segments = normalizeScope(scope).split('/').filter(Boolean);
  const chain = ['/'];
  // Resource ids grow in name/value pairs, except after "providers", which is followed by a namespace alone.
  let i = 0;
  const parts: string[] = [];
  while (i < segments.length) {
    const seg = segments[i] ?? '';
    if (seg.toLowerCase() === 'providers') {
      parts.push(seg, segments[i + 1] ?? '', segments[i + 2] ?? '', segments[i + 3] ?? '');
      i += 4;
    } else {
      parts.push(seg, segments[i + 1] ?? '');
      i += 2;
    }
    chain.push(`/${parts.filter(Boolean).join('/')}`);
  }
  return [...new Set(chain)];
}

/** Whether `inner` equals `outer` or lies below it. */
export function scopeContains(outer: string, inner: string): boolean {
  const o = normalizeScope(outer).toLowerCase();
  const i = normalizeScope(inner).toLowerCase();
  return o === '/' || i === o || i.startsWith(`${o}/`);
}

/** Subscription id named by a scope, if any. */
export function scopeSubscription(scope: string): string | undefined {
  return /^\/subscriptions\/([^/]+)/i.exec(normalizeScope(scope))?.[1];
}

/** Resource group named by a scope, if any. */
export function scopeResourceGroup(scope: string): string | undefined {
  return /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)/i.exec(normalizeScope(scope))?.[1];
}
