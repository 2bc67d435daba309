import {
  BlobSASPermissions,
  BlobServiceClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

/** Where a package's bytes are: the auto-storage account, container and blob name. */
export interface PackageBlob {
  storageAccountId: string;
  container: string;
  blob: string;
}

/** The blob operations packages need, over the account's auto-storage (ADR 0040). */
export interface PackageStorage {
  /** A URL with a SAS (`write`: create/write, else read); undefined when the storage account is unknown. */
  blobUrl(where: PackageBlob, write: boolean, expiresOn: Date): string | undefined;
  /** Creates the container when missing; false when the storage account is unknown. */
  ensureContainer(storageAccountId: string, container: string): Promise<boolean>;
  /** Whether the blob exists (undefined: the storage account is unknown). */
  blobExists(where: PackageBlob): Promise<boolean | undefined>;
  /** Removes the blob if it is there (best effort). */
  deleteBlob(where: PackageBlob): Promise<void>;
}

/** A blob storage account Lazurite may use as a Batch account's auto-storage (it hosts none itself). */
export interface StorageAccountEndpoint {
  /** e.g. `https://name.blob.core.windows.net` or Azurite's `http://127.0.0.1:10000/devstoreaccount1` */
  blobEndpoint: string;
  key: string;
}

/** Turns `autoStorageContainerName` into a container URL with a SAS, as Batch does for its auto-storage. */
export interface AutoStorage {
  /** undefined when the storage account is not one this server knows. */
  containerUrl(storageAccountId: string, container: string): string | undefined;
}

/** SAS lifetime of an auto-storage container URL handed to a task run (read + list). */
const SAS_LIFETIME_MS = 24 * 3_600_000;

/**
 * Auto-storage over configured accounts (LAZURITE_STORAGE_ACCOUNTS): the storage account named by the last
 * segment of the Batch account's `autoStorage.storageAccountId`, with a read/list service SAS made with its key.
 */
export function autoStorageOver(
  accounts: Record<string, StorageAccountEndpoint>,
  now: () => Date = () => new Date(),
): AutoStorage {
  const byName = new Map(Object.entries(accounts).map(([k, v]) => [k.toLowerCase(), { name: k, ...v }]));
  return {
    containerUrl: (storageAccountId, container) => {
      const name =
        storageAccountId
          .split('/')
          .filter((s) => s !== '')
          .at(-1)
          ?.toLowerCase() ?? '';
      const account = byName.get(name);
      if (!account) return undefined;
      const start = now();
      const sas = generateBlobSASQueryParameters(
        {
          containerName: container,
          permissions: ContainerSASPermissions.parse('rl'),
          startsOn: new Date(start.getTime() - 5 * 60_000),
          expiresOn: new Date(start.getTime() + SAS_LIFETIME_MS),
        },
        new StorageSharedKeyCredential(account.name, account.key),
      ).toString();
      return `${account.blobEndpoint.replace(/\/+$/, '')}/${encodeURIComponent(container)}?${sas}`;
    },
  };
}

/** The storage account (configured endpoint and key) an auto-storage id names, by its last segment. */
function accountNamed(
  byName: Map<string, { name: string } & StorageAccountEndpoint>,
  storageAccountId: string,
): ({ name: string } & StorageAccountEndpoint) | undefined {
  const name =
    storageAccountId
      .split('/')
      .filter((s) => s !== '')
      .at(-1)
      ?.toLowerCase() ?? '';
  return byName.get(name);
}

/**
 * Application package blobs (ADR 0040) in the configured accounts: SAS URLs made with the account key, and the
 * container and existence checks done with it.
 */
export function packageStorageOver(
  accounts: Record<string, StorageAccountEndpoint>,
  now: () => Date = () => new Date(),
): PackageStorage {
  const byName = new Map(Object.entries(accounts).map(([k, v]) => [k.toLowerCase(), { name: k, ...v }]));
  const client = (storageAccountId: string) => {
    const account = accountNamed(byName, storageAccountId);
    if (!account) return undefined;
    const credential = new StorageSharedKeyCredential(account.name, account.key);
    return { account, credential, service: new BlobServiceClient(account.blobEndpoint, credential) };
  };
  return {
    blobUrl: (where, write, expiresOn) => {
      const c = client(where.storageAccountId);
      if (!c) return undefined;
      const sas = generateBlobSASQueryParameters(
        {
          containerName: where.container,
          blobName: where.blob,
          permissions: BlobSASPermissions.parse(write ? 'rcw' : 'r'),
          startsOn: new Date(now().getTime() - 5 * 60_000),
          expiresOn,
        },
        c.credential,
      ).toString();
      const blobPath = where.blob.split('/').map(encodeURIComponent).join('/');
      return `${c.account.blobEndpoint.replace(/\/+$/, '')}/${encodeURIComponent(where.container)}/${blobPath}?${sas}`;
    },
    ensureContainer: async (storageAccountId, container) => {
      const c = client(storageAccountId);
      if (!c) return false;
      await c.service.getContainerClient(container).createIfNotExists();
      return true;
    },
    blobExists: async (where) => {
      const c = client(where.storageAccountId);
      if (!c) return undefined;
      return c.service.getContainerClient(where.container).getBlobClient(where.blob).exists();
    },
    deleteBlob: async (where) => {
      const c = client(where.storageAccountId);
      if (!c) return;
      await c.service.getContainerClient(where.container).getBlobClient(where.blob).deleteIfExists();
    },
  };
}
