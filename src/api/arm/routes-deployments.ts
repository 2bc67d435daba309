import type { Caller } from '../../domain/authorization/access.ts';
import { DomainError, invalidInput } from '../../domain/errors.ts';
import type { ComputeResourceRecord } from '../../domain/records.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmResponse, ArmRoute } from './router.ts';
import { evaluate, type TemplateScope } from './template.ts';
import { plan } from './template-plan.ts';
import { objectOrEmpty } from './validation.ts';

const DEPLOYMENT =
  '/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Microsoft.Resources/deployments/{deploymentName}';

/** Runs one ARM request through the same routes clients reach (so RBAC and validation apply per resource). */
export type Dispatch = (
  method: 'PUT' | 'GET',
  path: string,
  apiVersion: string,
  body: unknown,
  caller: Caller,
) => Promise<ArmResponse>;

function deploymentToWire(r: ComputeResourceRecord) {
  return { id: r.id, name: r.name, type: r.type, location: r.location, properties: r.properties };
}

/**
 * Incremental is what Lazurite does; Complete (deleting what the template lacks) is refused, never ignored. ARM
 * takes the values in any case (az sends `incremental`).
 */
function checkMode(mode: unknown): void {
  const value = typeof mode === 'string' ? mode.toLowerCase() : mode;
  if (value === undefined || value === 'incremental') return;
  if (value === 'complete')
    throw new DomainError(
      'not-implemented',
      'NotImplemented',
      "Complete mode deployments (removing resources the template does not name) are not supported by Lazurite; use 'Incremental'.",
      { target: 'properties.mode' },
    );
  throw invalidInput(
    'InvalidRequestContent',
    `The deployment mode '${JSON.stringify(mode)}' is not valid. Allowed values are 'Incremental' and 'Complete'.`,
    'properties.mode',
  );
}

/**
 * A resource PUT that answered with an Azure-AsyncOperation, once that operation ended (as ARM waits before the
 * next resource); a failed operation becomes a 400 carrying its error.
 */
async function settled(dispatch: Dispatch, res: ArmResponse, caller: Caller): Promise<ArmResponse> {
  const url = res.headers?.['azure-asyncoperation'];
  if (url === undefined || res.status >= 400) return res;
  const op = new URL(url);
  for (;;) {
    const status = await dispatch(
      'GET',
      op.pathname,
      op.searchParams.get('api-version') ?? '',
      undefined,
      caller,
    );
    const state = objectOrEmpty(status.body).status;
    if (status.status >= 400) return status;
    if (state === 'Succeeded') return res;
    if (state !== 'InProgress') return { status: 400, body: { error: objectOrEmpty(status.body).error } };
    await new Promise((r) => setTimeout(r, 200)); // the operation runs in the background
  }
}

async function deploy(
  deps: ArmDeps,
  dispatch: Dispatch,
  caller: Caller,
  p: Record<string, string>,
  body: unknown,
): Promise<ArmResponse> {
  const [sub, group, name] = [p.subscriptionId ?? '', p.resourceGroupName ?? '', p.deploymentName ?? ''];
  const props = objectOrEmpty(objectOrEmpty(body).properties);
  const template = objectOrEmpty(props.template);
  if (Object.keys(template).length === 0)
    throw invalidInput(
      'InvalidRequestContent',
      "'properties.template' is required (templateLink is not supported).",
      'properties.template',
    );
  checkMode(props.mode);
  const rg = await deps.deployments.authorize(caller, sub, group, name);
  const scope: TemplateScope = {
    subscriptionId: sub,
    resourceGroup: rg.name,
    location: rg.location,
    tenantId: caller.tenantId,
    parameters: {},
    variables: {},
  };
  const started = Date.now();
  const outputResources: { id: string }[] = [];
  let error: Record<string, unknown> | undefined;
  // Template errors (InvalidTemplate) are answered at once, as ARM validates before it deploys anything.
  const planned = plan(template, objectOrEmpty(props.parameters), scope);
  try {
    for (const r of planned) {
      const res = await settled(dispatch, await dispatch('PUT', r.id, r.apiVersion, r.body, caller), caller);
      if (res.status >= 400)
        throw new DomainError(
          'invalid-input',
          'ResourceDeploymentFailure',
          `The resource '${r.id}' failed: ${JSON.stringify(res.body)}`,
        );
      outputResources.push({ id: r.id });
    }
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    error = {
      code: 'DeploymentFailed',
      message: 'At least one resource deployment operation failed.',
      details: [{ code: err.code, message: err.message, target: err.target }],
    };
  }
  const outputs = error ? {} : evaluate(objectOrEmpty(template.outputs), scope);
  const { resource, created } = await deps.deployments.record(sub, rg.name, name, rg.location, {
    provisioningState: error ? 'Failed' : 'Succeeded',
    mode: props.mode ?? 'Incremental',
    timestamp: new Date().toISOString(),
    duration: `PT${((Date.now() - started) / 1000).toFixed(3)}S`,
    correlationId: name,
    parameters: Object.fromEntries(Object.entries(scope.parameters).map(([k, v]) => [k, { value: v }])),
    outputs,
    outputResources,
    ...(error ? { error } : {}),
  });
  return { status: created ? 201 : 200, body: deploymentToWire(resource) };
}

/** Microsoft.Resources/deployments: template deployments as `az vm create` submits them. */
export function deploymentRoutes(deps: ArmDeps, dispatch: Dispatch): ArmRoute[] {
  return [...deployRoutes(deps, dispatch), ...inspectionRoutes(deps)];
}

function deployRoutes(deps: ArmDeps, dispatch: Dispatch): ArmRoute[] {
  return [
    {
      method: 'PUT',
      pattern: DEPLOYMENT,
      handler: ({ caller, params, body }) => deploy(deps, dispatch, caller, params, body),
    },
  ];
}

/** POST validate: evaluates the template and lists what it would deploy, deploying nothing. */
async function validate(
  deps: ArmDeps,
  caller: Caller,
  params: Record<string, string>,
  body: unknown,
): Promise<ArmResponse> {
  const rg = await deps.deployments.authorize(
    caller,
    params.subscriptionId ?? '',
    params.resourceGroupName ?? '',
    params.deploymentName ?? '',
  );
  const props = objectOrEmpty(objectOrEmpty(body).properties);
  const scope: TemplateScope = {
    subscriptionId: params.subscriptionId ?? '',
    resourceGroup: rg.name,
    location: rg.location,
    tenantId: caller.tenantId,
    parameters: {},
    variables: {},
  };
  const resources = plan(objectOrEmpty(props.template), objectOrEmpty(props.parameters), scope);
  return {
    status: 200,
    body: {
      properties: {
        provisioningState: 'Succeeded',
        validatedResources: resources.map((r) => ({ id: r.id })),
      },
    },
  };
}

/** What-would-deploy checks and read-backs. */
function inspectionRoutes(deps: ArmDeps): ArmRoute[] {
  return [
    {
      method: 'POST',
      pattern: `${DEPLOYMENT}/validate`,
      handler: ({ caller, params, body }) => validate(deps, caller, params, body),
    },
    {
      method: 'GET',
      pattern: DEPLOYMENT,
      handler: async ({ caller, params }) => ({
        status: 200,
        body: deploymentToWire(
          await deps.deployments.get(
            caller,
            params.subscriptionId ?? '',
            params.resourceGroupName ?? '',
            params.deploymentName ?? '',
          ),
        ),
      }),
    },
    {
      method: 'GET',
      pattern: `${DEPLOYMENT}/operations`,
      handler: async ({ caller, params }) => {
        const d = await deps.deployments.get(
          caller,
          params.subscriptionId ?? '',
          params.resourceGroupName ?? '',
          params.deploymentName ?? '',
        );
        const resources = (d.properties.outputResources as { id: string }[] | undefined) ?? [];
        return {
          status: 200,
          body: {
            value: resources.map((r, i) => ({
              id: `${d.id}/operations/${i}`,
              operationId: String(i),
              properties: {
                provisioningOperation: 'Create',
                provisioningState: 'Succeeded',
                targetResource: { id: r.id },
              },
            })),
          },
        };
      },
    },
    {
      method: 'GET',
      pattern:
        '/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Microsoft.Resources/deployments',
      handler: async ({ caller, params }) => ({
        status: 200,
        body: {
          value: (
            await deps.deployments.list(caller, params.subscriptionId ?? '', params.resourceGroupName ?? '')
          ).map(deploymentToWire),
        },
      }),
    },
  ];
}
