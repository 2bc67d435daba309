import type { ApplicationView, PackageView } from '../../domain/applications/applications.ts';
import type { Caller } from '../../domain/authorization/access.ts';
import { DomainError } from '../../domain/errors.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmRoute } from './router.ts';
import { ARM_SPECS, objectOrEmpty, validateArmBody } from './validation.ts';

const ACCOUNT =
  '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Batch/batchAccounts/{accountName}';
const APPS = `${ACCOUNT}/applications`;
const APP = `${APPS}/{applicationName}`;
const VERSIONS = `${APP}/versions`;
const VERSION = `${VERSIONS}/{versionName}`;

type Json = Record<string, unknown>;

const etagOf = (updatedAt: string) => `W/"${updatedAt}"`;

function appToWire(v: ApplicationView): Json {
  const r = v.record;
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    etag: etagOf(r.updatedAt),
    properties: {
      ...(v.displayName === undefined ? {} : { displayName: v.displayName }),
      allowUpdates: v.allowUpdates,
      ...(v.defaultVersion === undefined ? {} : { defaultVersion: v.defaultVersion }),
    },
  };
}

function packageToWire(v: PackageView): Json {
  const r = v.record;
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    etag: etagOf(r.updatedAt),
    properties: {
      state: v.state,
      ...(v.format === undefined ? {} : { format: v.format }),
      ...(v.storageUrl === undefined
        ? {}
        : { storageUrl: v.storageUrl, storageUrlExpiry: v.storageUrlExpiry }),
      ...(v.lastActivationTime === undefined ? {} : { lastActivationTime: v.lastActivationTime }),
    },
  };
}

/**
 * The account of the request, once the caller holds `Microsoft.Batch/batchAccounts/applications[/versions]/<verb>`
 * on the application (or package) — the same RBAC as the account's other children.
 */
function accountFor(deps: ArmDeps, caller: Caller, p: Record<string, string>, action: string) {
  const app = p.applicationName;
  const version = p.versionName;
  const child =
    app === undefined
      ? 'applications'
      : version === undefined
        ? `applications/${app}`
        : `applications/${app}/versions/${version}`;
  const ids = {
    subscriptionId: p.subscriptionId ?? '',
    group: p.resourceGroupName ?? '',
    name: p.accountName ?? '',
  };
  return deps.batchAccounts.forChild(caller, ids, `Microsoft.Batch/batchAccounts/${action}`, child);
}

/** An Application body's properties (body optional, as Application_Create's is). */
function applicationInput(deps: ArmDeps, body: unknown) {
  const input =
    body === undefined || body === null || body === ''
      ? {}
      : validateArmBody(deps.specs, ARM_SPECS.batch, 'Application', body);
  const p = objectOrEmpty(input.properties);
  return {
    ...(typeof p.displayName === 'string' ? { displayName: p.displayName } : {}),
    ...(typeof p.allowUpdates === 'boolean' ? { allowUpdates: p.allowUpdates } : {}),
    ...(typeof p.defaultVersion === 'string' ? { defaultVersion: p.defaultVersion } : {}),
  };
}

function applicationRoutes(deps: ArmDeps): ArmRoute[] {
  const svc = deps.applications;
  const put =
    (merge: boolean) => async (req: { caller: Caller; params: Record<string, string>; body: unknown }) => {
      const account = await accountFor(deps, req.caller, req.params, 'applications/write');
      const app = req.params.applicationName ?? '';
      return {
        status: 200,
        body: appToWire(await svc.putApplication(account, app, applicationInput(deps, req.body), merge)),
      };
    };
  return [
    { method: 'PUT', pattern: APP, handler: put(false) },
    { method: 'PATCH', pattern: APP, handler: put(true) },
    {
      method: 'GET',
      pattern: APP,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'applications/read');
        return {
          status: 200,
          body: appToWire(await svc.getApplication(account, params.applicationName ?? '')),
        };
      },
    },
    {
      method: 'GET',
      pattern: APPS,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'applications/read');
        return { status: 200, body: { value: (await svc.listApplications(account)).map(appToWire) } };
      },
    },
    {
      method: 'DELETE',
      pattern: APP,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'applications/delete');
        return { status: (await svc.deleteApplication(account, params.applicationName ?? '')) ? 200 : 204 };
      },
    },
  ];
}

function packageRoutes(deps: ArmDeps): ArmRoute[] {
  const svc = deps.applications;
  const names = (p: Record<string, string>) => [p.applicationName ?? '', p.versionName ?? ''] as const;
  return [
    {
      method: 'PUT',
      pattern: VERSION,
      handler: async ({ caller, params, body }) => {
        if (body !== undefined && body !== null && body !== '')
          validateArmBody(deps.specs, ARM_SPECS.batch, 'ApplicationPackage', body);
        const account = await accountFor(deps, caller, params, 'applications/versions/write');
        return { status: 200, body: packageToWire(await svc.putPackage(account, ...names(params))) };
      },
    },
    {
      method: 'GET',
      pattern: VERSION,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'applications/versions/read');
        return { status: 200, body: packageToWire(await svc.getPackage(account, ...names(params))) };
      },
    },
    {
      method: 'GET',
      pattern: VERSIONS,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'applications/versions/read');
        const list = await svc.listPackages(account, params.applicationName ?? '');
        return { status: 200, body: { value: list.map(packageToWire) } };
      },
    },
    {
      method: 'DELETE',
      pattern: VERSION,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'applications/versions/delete');
        return { status: (await svc.deletePackage(account, ...names(params))) ? 200 : 204 };
      },
    },
    {
      method: 'POST',
      pattern: `${VERSION}/activate`,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(
          deps.specs,
          ARM_SPECS.batch,
          'ActivateApplicationPackageParameters',
          body,
        );
        const format = input.format;
        if (typeof format !== 'string')
          throw new DomainError('invalid-input', 'InvalidRequestContent', "'format' must be a string.", {
            target: 'format',
          });
        const account = await accountFor(deps, caller, params, 'applications/versions/activate/action');
        return { status: 200, body: packageToWire(await svc.activate(account, ...names(params), format)) };
      },
    },
  ];
}

/** Microsoft.Batch applications and their packages (versions) under a Batch account (ADR 0040). */
export function batchApplicationRoutes(deps: ArmDeps): ArmRoute[] {
  return [...applicationRoutes(deps), ...packageRoutes(deps)];
}
