import type { RegionStores } from '../../content/regions.ts';
import type { Config } from '../../config/config.ts';
import type { BatchAccountService } from '../../domain/accounts/batch-accounts.ts';
import type { ApplicationService } from '../../domain/applications/applications.ts';
import type { RoleAssignmentService } from '../../domain/authorization/assignments.ts';
import type { DiskService } from '../../domain/compute/disks.ts';
import type { GalleryService } from '../../domain/compute/gallery.ts';
import type { ComputeQueries } from '../../domain/compute/queries.ts';
import type { BatchCountsQuery } from '../../domain/metrics/batch-counts.ts';
import type { VmService } from '../../domain/compute/vms.ts';
import type { NetworkService } from '../../domain/network/network.ts';
import type { StorageAccountService } from '../../domain/storage/storage-accounts.ts';
import type { VaultService } from '../../domain/keyvault/vaults.ts';
import type { DeploymentService } from '../../domain/resources/deployments.ts';
import type { FailureThrottle } from '../../platform/throttle.ts';
import type { PrincipalService } from '../../domain/identity/principals.ts';
import type { AgentService } from '../../domain/pools/agent-service.ts';
import type { JobService } from '../../domain/jobs/jobs.ts';
import type { JobScheduleService } from '../../domain/jobs/schedules.ts';
import type { TaskService } from '../../domain/jobs/tasks.ts';
import type { NodeService } from '../../domain/pools/nodes.ts';
import type { NodeUserService } from '../../domain/pools/node-users.ts';
import type { RemoteLoginGateway } from '../ssh/remote-login.ts';
import type { PoolService } from '../../domain/pools/pools.ts';
import type { ResourceService } from '../../domain/resources/resources.ts';
import type { Clock } from '../../platform/clock.ts';
import type { FileRequestQueue } from '../../protocol/agent-protocol.ts';
import type { Logger } from '../../platform/logger.ts';
import type { TokenSigner } from '../../platform/tokens.ts';
import type { SpecValidator } from '../spec/validator.ts';
import type { ServiceLogUploader } from '../../domain/pools/service-logs.ts';
import type { ServerMetrics } from './metrics.ts';

/** What every surface uses: configuration, clock, logging, token signing, request validation, throttling. */
export interface HttpBasics {
  config: Config;
  /** Failed authentications per client address and identity (token endpoint, SharedKey, bearer tokens). */
  authThrottle: FailureThrottle;
  clock: Clock;
  logger: Logger;
  signer: TokenSigner;
  specs: SpecValidator;
  /** Origin clients use, e.g. https://127.0.0.1:8443 (set once the port is bound). */
  publicOrigin: () => string;
}

/** The identity surface's domain services (`api/identity`). */
export interface IdentityServices {
  principals: PrincipalService;
}

/** The ARM surface's domain services (`api/arm`): resources, RBAC, Batch accounts and pools, compute, network. */
export interface ArmServices {
  principals: PrincipalService;
  resources: ResourceService;
  roleAssignments: RoleAssignmentService;
  batchAccounts: BatchAccountService;
  /** Batch applications and their packages (ADR 0040). */
  applications: ApplicationService;
  gallery: GalleryService;
  disks: DiskService;
  vms: VmService;
  network: NetworkService;
  /** Microsoft.Storage/storageAccounts backed by configured blob endpoints (issue 17). */
  storageAccounts: StorageAccountService;
  /** Microsoft.KeyVault/vaults as ARM resources, no secret store (issue 17). */
  vaults: VaultService;
  deployments: DeploymentService;
  computeQueries: ComputeQueries;
  pools: PoolService;
}

/** The Batch data plane's domain services (`api/batch`). */
export interface BatchServices {
  batchAccounts: BatchAccountService;
  /** Applications with active packages (Application_List/Get, ADR 0040). */
  applications: ApplicationService;
  pools: PoolService;
  nodes: NodeService;
  /** Node users (ADR 0027). */
  nodeUsers: NodeUserService;
  /** The SSH gateway into nodes of the in-process local backend; undefined for simulated and remote-only servers. */
  remoteLogin?: RemoteLoginGateway;
  /** Nodes' Batch service logs (ADR 0031). */
  serviceLogs: ServiceLogUploader;
  jobs: JobService;
  tasks: TaskService;
  schedules: JobScheduleService;
  /** `local` or `simulated`: what runs this server's nodes (simulated nodes say so on the wire). */
  nodeBackendKind: string;
}

/** The host agents' endpoint (`api/agent`). */
export interface AgentServices {
  agents: AgentService;
  /** Bearer token host agents present on `/agent/v1/sync`. */
  agentToken: string;
  /** Node file reads waiting for remote host agents. */
  remoteFiles: FileRequestQueue;
  /** The region content stores host agents pull image blobs from (`GET /agent/v1/blobs`, ADR 0030). */
  contentStores?: RegionStores;
}

/** `/metrics` and the access log. */
export interface ObservabilityServices {
  /** Prometheus metrics served at /metrics; replication reports into it too. */
  metrics: ServerMetrics;
  /** Pools, nodes, jobs and tasks by state, read at each scrape. */
  batchCounts: BatchCountsQuery;
}

/** What each surface is built from: the basics and its own typed group of domain services. */
export type IdentityDeps = HttpBasics & IdentityServices;
export type ArmDeps = HttpBasics & ArmServices;
export type BatchDeps = HttpBasics & BatchServices;
export type AgentDeps = HttpBasics & AgentServices;
export type ObservabilityDeps = HttpBasics & ObservabilityServices;
/** The portal's configuration answer names the default Batch account. */
export type PortalDeps = HttpBasics & Pick<ArmServices, 'batchAccounts'>;

/** What the HTTPS server is built from (assembled once in app/main.ts, group by group): every surface's deps. */
export type ApiDeps = IdentityDeps & ArmDeps & BatchDeps & AgentDeps & ObservabilityDeps;
