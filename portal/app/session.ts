/** Sign-in: two client-credentials tokens from the server's identity endpoint, kept for this browser tab. */

export interface PortalConfig {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  batchAccountName: string;
  armScope: string;
  batchScope: string;
}

export interface Session {
  tenantId: string;
  clientId: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  batchAccountName: string;
  armToken: string;
  batchToken: string;
  /** Epoch ms when the first of the two tokens expires. */
  expiresAt: number;
}

export interface Credentials {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

const KEY = 'lazurite.portal.session';

export async function loadConfig(): Promise<PortalConfig> {
  const res = await fetch('/portal/config.json');
  if (!res.ok) throw new Error(`The portal configuration could not be read (HTTP ${res.status}).`);
  return (await res.json()) as PortalConfig;
}

/** The message of an OAuth error body (`error_description`, AADSTS…), or the HTTP status. */
async function oauthMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: string; error_description?: string };
    return body.error_description ?? body.error ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

async function token(c: Credentials, scope: string): Promise<{ token: string; expiresAt: number }> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: c.clientId,
    client_secret: c.clientSecret,
    scope,
  });
  const res = await fetch(`/${encodeURIComponent(c.tenantId)}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  if (!res.ok) throw new Error((await oauthMessage(res)).split('\n')[0]);
  const body = (await res.json()) as { access_token: string; expires_in: number };
  return { token: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
}

/** Gets the ARM and Batch tokens; the secret is used here and never stored. */
export async function signIn(c: Credentials, config: PortalConfig): Promise<Session> {
  const [arm, batch] = await Promise.all([token(c, config.armScope), token(c, config.batchScope)]);
  const session: Session = {
    tenantId: c.tenantId,
    clientId: c.clientId,
    subscriptionId: config.subscriptionId,
    resourceGroup: config.resourceGroup,
    location: config.location,
    batchAccountName: config.batchAccountName,
    armToken: arm.token,
    batchToken: batch.token,
    expiresAt: Math.min(arm.expiresAt, batch.expiresAt),
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

/** The tab's session, unless it is missing or its tokens expire within a minute. */
export function currentSession(): Session | undefined {
  const raw = sessionStorage.getItem(KEY);
  if (raw === null) return undefined;
  try {
    const s = JSON.parse(raw) as Session;
    return s.expiresAt - Date.now() > 60_000 ? s : undefined;
  } catch {
    return undefined;
  }
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
