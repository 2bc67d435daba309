import { join } from 'node:path';

/** Where each host's private data dir is mounted, in that host's own mount namespace only. */
export const HOST_DATA_DIR = '/var/lib/lazurite/slurm-host';

export interface ClusterHost {
  /** Slurm node name and the host's own hostname. */
  name: string;
  /** The host's address on the cluster bridge. */
  address: string;
}

export interface ClusterLayout {
  stateDir: string;
  /** The machine's hostname: slurmctld only runs where the short hostname names SlurmctldHost. */
  controllerName: string;
  /** The controller's address on the cluster bridge (the root network namespace's end). */
  controllerAddress: string;
  controllerPort: number;
  hosts: ClusterHost[];
  cpusPerHost: number;
  memoryMBPerHost: number;
}

/** The cluster's partition whose jobs `batch` jobs preempt: where low-priority nodes' jobs go. */
export const PREEMPTIBLE_PARTITION = 'preemptible';

/** The munge socket the cluster's daemons and clients use (munged runs only for this cluster). */
export function mungeSocket(stateDir: string): string {
  return join(stateDir, 'munge', 'munge.socket');
}

/**
 * The cluster's slurm.conf (Slurm 22.05, after `/work/shared/reference/slurm`): one slurmctld in the root
 * namespaces, one slurmd per host reached at its own address. Spool, pid and log files of a slurmd live in its
 * host's private data dir (HOST_DATA_DIR inside the host's mount namespace). A host whose slurmd stops answering is
 * DOWN after SlurmdTimeout (10 s), so a lost host shows quickly. Two partitions over all hosts: `batch` (the
 * default) and `preemptible` (`PREEMPTIBLE_PARTITION`, a lower PriorityTier): a `batch` job that needs the cores of a
 * `preemptible` job cancels it (preempt/partition_prio, PreemptMode=CANCEL), and the job ends PREEMPTED. Slurm's
 * preemptible QOS needs slurmdbd, which this cluster does not run; the partition is the same thing to Slurm's
 * scheduler and to the backend (low-priority nodes' jobs go there through --slurm-low-priority-args).
 */
export function renderSlurmConf(c: ClusterLayout): string {
  const dir = (...p: string[]) => join(c.stateDir, ...p);
  const lines = [
    '# written by `lazurite cluster up`; removed by `lazurite cluster down`',
    'ClusterName=lazurite',
    `SlurmctldHost=${c.controllerName}(${c.controllerAddress})`,
    'SlurmUser=root',
    `SlurmctldPort=${String(c.controllerPort)}`,
    'SlurmdPort=6818',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${mungeSocket(c.stateDir)}`,
    `StateSaveLocation=${dir('slurm', 'state')}`,
    `SlurmctldPidFile=${dir('slurm', 'slurmctld.pid')}`,
    `SlurmctldLogFile=${dir('slurm', 'slurmctld.log')}`,
    `SlurmdSpoolDir=${HOST_DATA_DIR}/slurmd/spool`,
    `SlurmdPidFile=${HOST_DATA_DIR}/slurmd/slurmd.pid`,
    `SlurmdLogFile=${HOST_DATA_DIR}/slurmd/slurmd.log`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'MpiDefault=none',
    'SchedulerType=sched/backfill',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core_Memory',
    'ReturnToService=2',
    'SlurmdTimeout=10',
    'KillWait=5',
    'SlurmctldDebug=info',
    'SlurmdDebug=info',
    'MinJobAge=60',
    'SlurmdParameters=config_overrides',
    'SchedulerParameters=batch_sched_delay=0,default_queue_depth=1100,bf_interval=1,max_rpc_cnt=0',
    'PreemptType=preempt/partition_prio',
    'PreemptMode=CANCEL',
    ...c.hosts.map(
      (h) =>
        `NodeName=${h.name} NodeHostname=${h.name} NodeAddr=${h.address} CPUs=${String(c.cpusPerHost)} ` +
        `RealMemory=${String(c.memoryMBPerHost)} State=UNKNOWN`,
    ),
    'PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=2',
    `PartitionName=${PREEMPTIBLE_PARTITION} Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=CANCEL`,
  ];
  return `${lines.join('\n')}\n`;
}
