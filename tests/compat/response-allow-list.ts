/**
 * Response-check findings that are the spec's fault, not the server's (ADR 0032). Each entry names the swagger
 * operation, a piece of the finding's message, and why the server is right. Keep it short: a mismatch that is the
 * server's fault is fixed, never listed here.
 */
export interface AllowedMismatch {
  operation: string;
  /** A substring of the violation's message. */
  message: string;
  reason: string;
}

/** File reads and their HEADs honour If-Modified-Since with 304 (HTTP semantics; Batch does), which the spec omits. */
const NOT_MODIFIED = 'status 304 is not one of';
const notModified = (operation: string): AllowedMismatch => ({
  operation,
  message: NOT_MODIFIED,
  reason:
    'If-Modified-Since on a file not modified since answers 304, as Batch does; the swagger lists only 200.',
});

/**
 * UserAccount.password is `required` in both swaggers, but it is write-only: Batch never returns a password, and
 * Lazurite keeps only its SHA-512 crypt, sealed (ADR 0026). A pool answer with user accounts therefore lacks it.
 */
const writeOnlyPassword = (operation: string): AllowedMismatch => ({
  operation,
  message: "].password' is required",
  reason: 'user account passwords are write-only: the service never returns them (ADR 0026).',
});

export const ALLOWED_RESPONSE_MISMATCHES: readonly AllowedMismatch[] = [
  ...['Pool_Get', 'Pool_List', 'Pool_Create', 'Pool_Update', 'Pool_ListByBatchAccount'].map(
    writeOnlyPassword,
  ),
  notModified('File_GetFromTask'),
  notModified('File_GetPropertiesFromTask'),
  notModified('File_GetFromComputeNode'),
  notModified('File_GetPropertiesFromComputeNode'),
];
