import type { NodeReport, TaskReport } from '../../protocol/agent-protocol.ts';
import type { NodeLogKey, ServiceLogUpload } from '../../backends/service-logs.ts';
import { invalidProperty, unsupportedProperty } from './pool-spec.ts';

/**
 * ComputeNode_UploadBatchServiceLogs's work (the port the Batch surface calls; `backends/service-logs.ts` does it):
 * the node's log files that hold lines of the window go to the container its SAS URL names.
 */
export interface ServiceLogUploader {
  upload(
    node: NodeLogKey,
    containerUrl: string,
    window: { start: Date; end: Date },
  ): Promise<ServiceLogUpload>;
}

/**
 * A node's Batch service log (ADR 0031): what its host agent reported about it (state changes, start task and task
 * runs with their exit codes and figures, errors), one stamped line per report, as the server applied them. These
 * are the files `ComputeNode_UploadBatchServiceLogs` uploads; backends/service-logs.ts keeps them.
 */
const figures = (r: TaskReport): string =>
  r.usage === undefined
    ? ''
    : ` userCpuUs=${String(r.usage.userCpuMicros)} kernelCpuUs=${String(r.usage.kernelCpuMicros)}` +
      ` readBytes=${String(r.usage.readBytes)} writeBytes=${String(r.usage.writeBytes)}` +
      ` readOps=${String(r.usage.readOps)} writeOps=${String(r.usage.writeOps)}` +
      ` wallClockMs=${String(r.usage.wallClockMs)}`;

const nodeKeyOf = (r: NodeLogKey) =>
  JSON.stringify([r.accountName.toLowerCase(), r.poolId.toLowerCase(), r.nodeId.toLowerCase()]);

/** The log lines of one sync's reports, by node (only reports the server took as the host's own). */
export function syncLogLines(
  reports: NodeReport[],
  taskReports: TaskReport[],
  now: Date,
): { node: NodeLogKey; lines: string[] }[] {
  const stamp = now.toISOString();
  const out = new Map<string, { node: NodeLogKey; lines: string[] }>();
  const add = (r: NodeLogKey, line: string) => {
    const k = nodeKeyOf(r);
    const entry = out.get(k) ?? {
      node: { accountName: r.accountName, poolId: r.poolId, nodeId: r.nodeId },
      lines: [],
    };
    entry.lines.push(`${stamp} ${line.replace(/[\r\n]+/g, ' ')}`);
    out.set(k, entry);
  };
  for (const r of reports) {
    if (r.state !== undefined) add(r, `node state=${r.state} generation=${String(r.generation)}`);
    if (r.bootTime !== undefined) add(r, `node booted at ${r.bootTime}`);
    const st = r.startTaskInfo;
    if (st)
      add(
        r,
        `starttask state=${st.state} retryCount=${String(st.retryCount)}` +
          (st.exitCode === undefined ? '' : ` exitCode=${String(st.exitCode)}`) +
          (st.failureInfo ? ` failure=${st.failureInfo.code}: ${st.failureInfo.message}` : ''),
      );
    for (const e of r.errors ?? []) add(r, `node error ${e.code}: ${e.message}`);
  }
  for (const r of taskReports) {
    add(
      r,
      `task job=${r.jobId} task=${r.taskId} attempt=${String(r.attempt)} state=${r.state}` +
        ` startTime=${r.startTime}` +
        (r.exitCode === undefined ? '' : ` exitCode=${String(r.exitCode)}`) +
        (r.failureInfo ? ` failure=${r.failureInfo.code}: ${r.failureInfo.message}` : '') +
        figures(r),
    );
  }
  return [...out.values()];
}

/**
 * The checked body of `ComputeNode_UploadBatchServiceLogs` (already valid against UploadBatchServiceLogsConfiguration):
 * identityReference is refused (UnsupportedProperty: Lazurite has no managed identities to write with), the
 * container URL must be http(s) and carry a SAS (`sig`), and the window ends at `endTime` (not before it starts)
 * or, without one, holds everything after `startTime`.
 */
export function uploadLogsRequest(
  body: Record<string, unknown>,
  now: Date,
): { containerUrl: string; start: Date; end: Date } {
  if (body.identityReference !== undefined)
    throw unsupportedProperty(
      'identityReference',
      'Lazurite has no managed identities; give a containerUrl with a SAS granting write.',
    );
  const containerUrl = String(body.containerUrl);
  const parsed = URL.parse(containerUrl);
  if (!parsed || !/^https?:$/.test(parsed.protocol))
    throw invalidProperty('containerUrl', 'The container URL must be an absolute http or https URL.');
  if (!parsed.searchParams.has('sig'))
    throw invalidProperty(
      'containerUrl',
      'The container URL must include a Shared Access Signature (SAS) granting write permissions.',
    );
  const start = new Date(typeof body.startTime === 'string' ? body.startTime : NaN);
  if (Number.isNaN(start.getTime())) throw invalidProperty('startTime', 'Not a date-time.');
  // Without endTime: everything after startTime (nothing, for a start still to come).
  const end =
    body.endTime === undefined
      ? new Date(Math.max(now.getTime(), start.getTime()))
      : new Date(typeof body.endTime === 'string' ? body.endTime : NaN);
  if (Number.isNaN(end.getTime())) throw invalidProperty('endTime', 'Not a date-time.');
  if (end.getTime() < start.getTime())
    throw invalidProperty('endTime', 'The end of the window is before its start.');
  return { containerUrl, start, end };
}
