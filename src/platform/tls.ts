import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import forge from 'node-forge';

/** PEM material for the HTTPS listener, plus where the CA lives so clients can trust it. */
export interface TlsMaterial {
  caCertPath: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

const DEFAULT_NAMES = ['127.0.0.1', '::1', 'localhost'];
const CA_YEARS = 10;
const SERVER_YEARS = 2;

function newKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function baseCertificate(publicPem: string, years: number, now: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  // Positive serial: leading byte below 0x80.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + years * 365 * 24 * 3600_000);
  return cert;
}

function createCa(now: Date): { certPem: string; keyPem: string } {
  const keys = newKeyPair();
  const cert = baseCertificate(keys.publicPem, CA_YEARS, now);
  const subject = [
    { name: 'commonName', value: 'Lazurite Local CA' },
    { name: 'organizationName', value: 'Lazurite' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privatePem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privatePem };
}

function createServerCert(
  ca: { certPem: string; keyPem: string },
  names: string[],
  now: Date,
): { certPem: string; keyPem: string } {
  const keys = newKeyPair();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = baseCertificate(keys.publicPem, SERVER_YEARS, now);
  cert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privatePem };
}

/**
 * Whether the stored server certificate can stay: signed by the current CA (a CA made anew — its files were
 * gone — means a new certificate), matching the stored key, naming every host, and not close to expiry.
 */
function certCovers(
  server: { certPem: string; keyPem: string },
  caCertPem: string,
  names: string[],
  now: Date,
): boolean {
  try {
    const x509 = new X509Certificate(server.certPem);
    const ca = new X509Certificate(caCertPem);
    if (!x509.checkIssued(ca) || !x509.verify(ca.publicKey)) return false;
    if (!x509.checkPrivateKey(createPrivateKey(server.keyPem))) return false;
  } catch {
    return false; // unreadable: issue a new one
  }
  const cert = forge.pki.certificateFromPem(server.certPem);
  if (cert.validity.notAfter.getTime() < now.getTime() + 24 * 3600_000) return false;
  const ext = cert.getExtension('subjectAltName') as { altNames?: { ip?: string; value?: string }[] } | null;
  const present = new Set((ext?.altNames ?? []).map((a) => a.ip ?? a.value ?? ''));
  return names.every((n) => present.has(n));
}

/**
 * Loads the CA and server certificate from `dir`, creating them on first use. The server certificate is
 * re-issued when it was not signed by the current CA, does not match its key, is close to expiry or does not
 * name `extraHost`.
 */
export function ensureTlsMaterial(
  dir: string,
  extraHost: string | string[] | undefined,
  now: Date,
): TlsMaterial {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true, mode: 0o700 });
  const caCertPath = join(abs, 'ca.pem');
  const caKeyPath = join(abs, 'ca-key.pem');
  const certPath = join(abs, 'server.pem');
  const keyPath = join(abs, 'server-key.pem');
  if (!existsSync(caCertPath) || !existsSync(caKeyPath)) {
    const ca = createCa(now);
    writeFileSync(caKeyPath, ca.keyPem, { mode: 0o600 });
    writeFileSync(caCertPath, ca.certPem);
  }
  const ca = { certPem: readFileSync(caCertPath, 'utf8'), keyPem: readFileSync(caKeyPath, 'utf8') };
  const names = [...DEFAULT_NAMES];
  for (const extra of typeof extraHost === 'string' ? [extraHost] : (extraHost ?? [])) {
    if (extra && !names.includes(extra) && extra !== '0.0.0.0' && extra !== '::') names.push(extra);
  }
  if (
    !existsSync(certPath) ||
    !existsSync(keyPath) ||
    !certCovers(
      { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') },
      ca.certPem,
      names,
      now,
    )
  ) {
    const server = createServerCert(ca, names, now);
    writeFileSync(keyPath, server.keyPem, { mode: 0o600 });
    writeFileSync(certPath, server.certPem);
  }
  return {
    caCertPath,
    caCertPem: ca.certPem,
    certPem: readFileSync(certPath, 'utf8'),
    keyPem: readFileSync(keyPath, 'utf8'),
  };
}
