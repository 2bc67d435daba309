"""The seeds' Python snippet ("Create a pool from a Shared Image using Python"), as written, against Lazurite.

Only the placeholders are filled in (from argv) and, endpoints aside, one argument is added: the credentials'
cloud_environment, whose Active Directory endpoint is the server's AD FS-style authority instead of Azure's.

Usage: seed_pool.py <authority> <batch url> <account> <client id> <tenant> <secret> <image version id>
Prints one JSON object with what it saw; the TypeScript test (ubuntu-seeds.test.ts) checks the values.
"""
import json
import sys

from msrestazure.azure_cloud import Cloud, CloudEndpoints

authority, url, account_name, client_id, tenant_id, secret, image_id = sys.argv[1:8]
lazurite = Cloud(
    "Lazurite",
    endpoints=CloudEndpoints(active_directory=authority, active_directory_resource_id="https://batch.core.windows.net/"),
)

# --- the seed, verbatim but for the values in braces and cloud_environment ---
# Import the required modules from the
# Azure Batch Client Library for Python
import azure.batch as batch
import azure.batch.models as batchmodels
from azure.common.credentials import ServicePrincipalCredentials

# Specify Batch account and service principal account credentials
account = account_name
batch_url = url
ad_client_id = client_id
ad_tenant = tenant_id
ad_secret = secret

# Pool settings
pool_id = "LinuxNodesSamplePoolPython"
vm_size = "STANDARD_D2_V3"
node_count = 1

# Initialize the Batch client with Azure AD authentication
creds = ServicePrincipalCredentials(
    client_id=ad_client_id,
    secret=ad_secret,
    tenant=ad_tenant,
    resource="https://batch.core.windows.net/",
    cloud_environment=lazurite,
)
client = batch.BatchServiceClient(creds, batch_url)

# Configure the start task for the pool
start_task = batchmodels.StartTask(
    command_line="printenv AZ_BATCH_NODE_STARTUP_DIR"
)
start_task.run_elevated = True

# Create an ImageReference which specifies the image from
# Shared Image Gallery to install on the nodes.
ir = batchmodels.ImageReference(
    virtual_machine_image_id=image_id
)

# Create the VirtualMachineConfiguration, specifying
# the VM image reference and the Batch node agent to
# be installed on the node.
vmc = batchmodels.VirtualMachineConfiguration(
    image_reference=ir,
    node_agent_sku_id="batch.node.ubuntu 18.04"
)

# Create the unbound pool
new_pool = batchmodels.PoolAddParameter(
    id=pool_id,
    vm_size=vm_size,
    target_dedicated_nodes=node_count,
    virtual_machine_configuration=vmc,
    start_task=start_task
)

# Create pool in the Batch service
client.pool.add(new_pool)
# --- end of the seed ---

seen = {}
pool = client.pool.get(pool_id)
seen["pool"] = [pool.id, pool.state, pool.virtual_machine_configuration.node_agent_sku_id]
seen["image"] = pool.virtual_machine_configuration.image_reference.virtual_machine_image_id
seen["resizeErrors"] = pool.resize_errors or []

# R9: the same snippet with a plain Debian image is refused for batch.node.ubuntu 18.04.
debian = batchmodels.VirtualMachineConfiguration(
    image_reference=batchmodels.ImageReference(publisher="debian", offer="debian-12", sku="12"),
    node_agent_sku_id="batch.node.ubuntu 18.04",
)
try:
    client.pool.add(
        batchmodels.PoolAddParameter(
            id="debian-as-ubuntu", vm_size=vm_size, target_dedicated_nodes=0, virtual_machine_configuration=debian
        )
    )
    seen["debian"] = "created"
except batchmodels.BatchErrorException as err:
    values = {v.key: v.value for v in (err.error.values or [])}
    seen["debian"] = [err.error.code, values.get("PropertyName")]
print(json.dumps(seen))
