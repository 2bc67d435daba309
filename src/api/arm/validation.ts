import { DomainError } from '../../domain/errors.ts';
import type { SpecValidator } from '../spec/validator.ts';

/** Spec files (under specs/specification/) whose definitions ARM bodies are checked against. */
export const ARM_SPECS = {
  resources: 'resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json',
  roleAssignments:
    'authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json',
  batch: 'batch/resource-manager/Microsoft.Batch/stable/2023-11-01/BatchManagement.json',
} as const;

/** Requires a JSON object body, then checks it against a swagger definition; errors name the field. */
export function validateArmBody(
  specs: SpecValidator,
  specFile: string,
  definition: string,
  body: unknown,
): Record<string, unknown> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new DomainError(
      'invalid-input',
      'InvalidRequestContent',
      'The request content was invalid and could not be deserialized: the body must be a JSON object.',
    );
  }
  const violation = specs.validate(specFile, definition, body);
  if (violation?.kind === 'unknown-type') {
    // A route names a definition the spec copy lacks: our bug, not the client's (500, logged).
    throw new Error(`spec definition ${definition} not found in ${specFile}: ${violation.message}`);
  }
  if (violation) {
    const code =
      violation.kind === 'missing' && violation.path === 'location'
        ? 'LocationRequired'
        : 'InvalidRequestContent';
    throw new DomainError('invalid-input', code, violation.message, { target: violation.path });
  }
  return body as Record<string, unknown>;
}

export function objectOrEmpty(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
