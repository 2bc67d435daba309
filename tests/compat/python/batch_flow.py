"""Drives a Lazurite server with Microsoft's Python SDK (Debian's python3-azure: azure-batch).

Usage: batch_flow.py <batch url> <account> <key>. Prints one JSON object with what it saw; exits non-zero on
an unexpected error. The TypeScript test (python-sdk.test.ts) checks the values.
"""
import json
import sys
import time

import azure.batch.models as batchmodels
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials
from azure.batch.models import BatchErrorException


def wait(what, read, done, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = read()
        if done(value):
            return value
        time.sleep(0.2)
    raise TimeoutError(what)


def main():
    url, account, key = sys.argv[1:4]
    client = BatchServiceClient(SharedKeyCredentials(account, key), batch_url=url)
    seen = {}
    image = batchmodels.ImageReference(publisher="lazurite", offer="tiny", sku="busybox")
    client.pool.add(
        batchmodels.PoolAddParameter(
            id="py-pool",
            vm_size="standard_a1_v2",
            virtual_machine_configuration=batchmodels.VirtualMachineConfiguration(
                image_reference=image, node_agent_sku_id="batch.node.lazurite tiny"
            ),
            enable_auto_scale=True,
            auto_scale_formula="$TargetDedicatedNodes = 1;",
            auto_scale_evaluation_interval="PT5M",
        )
    )
    pool = wait(
        "pool steady",
        lambda: client.pool.get("py-pool"),
        lambda p: p.allocation_state == "steady" and p.current_dedicated_nodes == 1,
    )
    seen["autoScaleResults"] = pool.auto_scale_run.results
    run = client.pool.evaluate_auto_scale("py-pool", "$TargetDedicatedNodes = $CurrentDedicatedNodes * 3")
    seen["evaluated"] = run.results

    client.job.add(batchmodels.JobAddParameter(id="py-job", pool_info=batchmodels.PoolInformation(pool_id="py-pool")))
    client.task.add("py-job", batchmodels.TaskAddParameter(id="py-task", command_line='/bin/sh -c "echo from python"'))
    task = wait("task completed", lambda: client.task.get("py-job", "py-task"), lambda t: t.state == "completed")
    seen["exitCode"] = task.execution_info.exit_code
    stream = client.file.get_from_task("py-job", "py-task", "stdout.txt")
    seen["stdout"] = b"".join(stream).decode()

    client.job_schedule.add(
        batchmodels.JobScheduleAddParameter(
            id="py-schedule",
            schedule=batchmodels.Schedule(),
            job_specification=batchmodels.JobSpecification(
                pool_info=batchmodels.PoolInformation(pool_id="py-pool"),
                job_manager_task=batchmodels.JobManagerTask(id="manager", command_line="/bin/true"),
            ),
        )
    )
    schedule = wait(
        "schedule completed",
        lambda: client.job_schedule.get("py-schedule"),
        lambda s: s.state == "completed",
    )
    seen["scheduledJob"] = schedule.execution_info.recent_job.id

    try:
        client.task.add("py-job", batchmodels.TaskAddParameter(id="py-task", command_line="/bin/true"))
    except BatchErrorException as err:
        seen["duplicate"] = [err.error.code, err.error.message.value.split("\n")[0]]
    try:
        client.pool.resize("py-pool", batchmodels.PoolResizeParameter(target_dedicated_nodes=2))
    except BatchErrorException as err:
        seen["resizeAutoScale"] = err.error.code
    seen["applications"] = [a.id for a in client.application.list()]
    try:
        client.application.get("nothing")
    except BatchErrorException as err:
        seen["applicationGet"] = err.error.code
    try:
        client.pool.add(
            batchmodels.PoolAddParameter(
                id="py-apps",
                vm_size="standard_a1_v2",
                virtual_machine_configuration=batchmodels.VirtualMachineConfiguration(
                    image_reference=image, node_agent_sku_id="batch.node.lazurite tiny"
                ),
                application_package_references=[batchmodels.ApplicationPackageReference(application_id="nothing")],
            )
        )
    except BatchErrorException as err:
        seen["poolWithMissingApp"] = err.error.code
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
