import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { resolvePortalFile } from '../../src/api/portal/routes.ts';
import { BatchServiceClient } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import { computeClient, credentialFor, startServer, type TestServer } from './harness.ts';
import { buildToolImage, sharedKeyBatch } from './pool-image.ts';
import { focused, horizontalOverflow, openBrowser, screenshot, type TestBrowser } from './portal-browser.ts';

/** Issue 6's portal checks, in a real browser: sign in, a pool from a gallery image through the form, and more. */

const SKU = 'batch.node.lazurite tiny';
const STATE_TIMEOUT = 180_000; // two cores shared with other test runs: waits are generous, never fixed sleeps

/** Waits until a locator matches exactly `n` elements: the n-th is gone and the (n-1)-th is there. */
async function waitForCount(locator: Locator, n: number): Promise<void> {
  await locator.nth(n).waitFor({ state: 'detached', timeout: STATE_TIMEOUT });
  await locator.nth(n - 1).waitFor({ state: 'attached', timeout: STATE_TIMEOUT });
}

/** GET of a raw path (not normalised by any URL parser), as a hostile client would send it. */
function rawGet(origin: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the portal at /portal', () => {
  let server: TestServer;
  let origin: string;
  let versionId: string;
  let imageId: string;

  before(async () => {
    server = await startServer();
    const c = server.connection;
    origin = new URL(c.batchUrl).origin;
    ({ versionId, imageId } = await buildToolImage(computeClient(c), c.resourceGroup, [
      { name: 'westeurope', regionalReplicaCount: 1 },
    ]));
  });
  after(async () => {
    await server.stop();
  });

  test('static files load without a token; modules are served as JavaScript with a strict CSP', async () => {
    const page = await fetch(`${origin}/portal`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self' 'sha256-/);
    assert.match(await page.text(), /<script type="module" src="\/portal\/app\/main.ts">/);
    const main = await fetch(`${origin}/portal/app/main.ts`);
    assert.match(main.headers.get('content-type') ?? '', /^text\/javascript/);
    const js = await main.text();
    assert.doesNotMatch(js, /import type|: PageContext/, 'types are erased');
    const shared = await (await fetch(`${origin}/portal/lib/sizing-guidance.ts`)).text();
    assert.match(shared, /export const NODES_PER_REPLICA = 300/);
    const config = (await (await fetch(`${origin}/portal/config.json`)).json()) as { clientId: string };
    assert.equal(config.clientId, server.connection.clientId);
  });

  test('static serving refuses path traversal, hidden files and files outside the portal', async () => {
    const attempts = [
      '/portal/../package.json',
      '/portal/%2e%2e/package.json',
      '/portal/..%2f..%2fpackage.json',
      '/portal/app/..%2F..%2F..%2Fsrc%2Fmain.ts',
      '/portal/app/%2e%2e/%2e%2e/src/app/main.ts',
      '/portal/lib/..%2f..%2fsrc%2fmain.ts',
      '/portal/lib/records.ts',
      '/portal/%2fetc%2fpasswd',
      '/portal/..\\..\\package.json',
      '/portal/tsconfig.json',
      '/portal/README.md',
      '/portal/.hidden.ts',
    ];
    for (const path of attempts) {
      const { status, body } = await rawGet(origin, path);
      assert.equal(status, 404, `${path} gave ${String(status)}`);
      assert.doesNotMatch(body, /"name": "lazurite"|startLazurite|root:x:0/, path);
    }
    const root = mkdtempSync(join(tmpdir(), 'portal-root-'));
    try {
      mkdirSync(join(root, 'app'));
      writeFileSync(join(root, 'app', 'ok.ts'), 'export {};');
      symlinkSync('/etc/hostname', join(root, 'app', 'escape.css'));
      assert.equal(await resolvePortalFile('app/ok.ts', root), join(root, 'app', 'ok.ts'));
      assert.equal(await resolvePortalFile('app/escape.css', root), undefined, 'a symlink out is refused');
      assert.equal(await resolvePortalFile('app/../../etc/hostname.css', root), undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  describe('in chromium', () => {
    let browser: TestBrowser;
    let page: Page;
    /** Set once the form made the pool; the tests that look at it are skipped (not timed out) without it. */
    let poolMade = false;
    before(async () => {
      browser = await openBrowser();
      page = browser.page;
    });
    after(async () => {
      await browser.close();
    });

    test('sign in with the prefilled well-known service principal', async () => {
      await page.goto(`${origin}/portal`);
      await page.getByLabel('Client secret').waitFor();
      assert.equal(await page.getByLabel('Client ID').inputValue(), server.connection.clientId);
      const secret = page.getByLabel('Client secret');
      await secret.fill('not-the-secret');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page
        .getByRole('alert')
        .getByText(/Sign-in failed: AADSTS7000215/)
        .waitFor();
      await secret.fill(server.connection.clientSecret);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Batch account lazurite' }).waitFor();
      await page.locator('#account-live').getByText('Galleries').waitFor();
      await screenshot(page, 'overview');
    });

    test('the keyboard reaches the navigation and follows a link', async () => {
      await page.locator('.skip-link').focus();
      for (let i = 0; i < 10; i++) {
        await page.keyboard.press('Tab');
        if ((await focused(page)).text === 'Pools') break;
      }
      assert.equal((await focused(page)).text, 'Pools');
      assert.notEqual(
        await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle'),
        'none',
        'focus is visible',
      );
      await page.keyboard.press('Enter');
      await page.waitForURL(/#\/pools$/);
      await page.getByRole('heading', { name: 'Pools', level: 1 }).waitFor();
    });

    test('Add pool: guidance numbers, OS-filtered node agent SKUs, server errors next to the field', async () => {
      await page.goto(`${origin}/portal#/pools/new`);
      await page.getByRole('heading', { name: 'Add pool' }).waitFor();
      await page.getByRole('button', { name: 'Create pool' }).click();
      await page.locator('#pool-id-field .field-error').getByText('MissingRequiredProperty, id').waitFor();
      assert.equal((await focused(page)).id, 'pool-id', 'the named field gets the focus');
      await page.getByLabel('Pool ID').fill('portalpool');
      const sku = page.getByLabel('Node agent SKU');
      await page.getByLabel('Marketplace image').selectOption({ label: 'lazurite / tiny / busybox (linux)' });
      assert.equal(await sku.inputValue(), SKU, 'a marketplace image preselects its own node agent SKU');
      await page.getByRole('radio', { name: 'Managed image' }).check();
      await page.getByRole('combobox', { name: 'Managed image' }).selectOption(imageId);
      await sku.locator('option', { hasText: 'linux' }).first().waitFor({ state: 'attached' });
      assert.ok(!(await sku.locator('option').allTextContents()).includes('batch.node.windows amd64'));
      await page.getByRole('radio', { name: 'Shared Image Gallery' }).check();
      const definitionId = versionId.replace(/\/versions\/[^/]+$/, '');
      await page
        .getByLabel('Gallery', { exact: true })
        .selectOption(definitionId.replace(/\/images\/[^/]+$/, ''));
      await page.getByLabel('Image definition').selectOption(definitionId);
      await page.getByLabel('Image version').selectOption(versionId);
      await page.locator('#gallery-replication').getByText('West Europe: Completed 100%').waitFor();
      const skus = await page.locator('#node-agent-sku option').allTextContents();
      assert.ok(skus.includes(SKU) && skus.includes('batch.node.ubuntu 22.04'), skus.join());
      assert.ok(!skus.includes('batch.node.windows amd64'), 'Windows SKUs are not offered for a Linux image');
      const unlabelled = await page.evaluate<string[]>(
        "[...document.querySelectorAll('input, select, textarea')].filter((e) => e.labels.length === 0).map((e) => e.id)",
      );
      assert.deepEqual(unlabelled, [], 'every control has a label');

      await page.getByLabel('Dedicated nodes').fill('3000');
      assert.equal(await page.getByLabel('Resize timeout (minutes)').inputValue(), '45');
      const warning = page.locator('#replica-warning');
      await warning.getByText('at least 10').waitFor();
      assert.match(
        await page.locator('#sizing-guidance').innerText(),
        /3000 node\(s\): at least 10 .* 45-minute/,
      );
      await page.getByLabel('Dedicated nodes').fill('2');
      assert.equal(await page.getByLabel('Resize timeout (minutes)').inputValue(), '15');
      assert.equal(await warning.isHidden(), true);

      await page.getByLabel('Node agent SKU').selectOption(SKU);
      await page
        .getByLabel('Command line')
        .fill("/bin/sh -c '/opt/tool/run portal; cat /datadrive/ref.txt; id -u'");
      await page.getByLabel('Run elevated (admin)').check();
      await page.getByRole('button', { name: 'Create pool' }).click();
      const sizeError = page.locator('#vm-size-field .field-error');
      await sizeError.getByText('MissingRequiredProperty').waitFor();
      assert.match(await sizeError.innerText(), /vmSize/);
      assert.equal(await page.getByLabel('VM size').getAttribute('aria-invalid'), 'true');
      assert.match(await page.locator('#form-error').innerText(), /not created/);
      await screenshot(page, 'add-pool-missing-field');

      await page.getByLabel('VM size').selectOption('standard_a1_v2');
      await page.getByLabel('Node agent SKU').selectOption('batch.node.ubuntu 22.04');
      await page.getByRole('button', { name: 'Create pool' }).click();
      const skuError = page.locator('#node-agent-sku-field .field-error');
      await skuError.getByText('InvalidPropertyValue').waitFor();
      assert.match(await skuError.innerText(), /batch\.node\.lazurite tiny/);
      assert.equal(await sizeError.isHidden(), true, 'the earlier error is cleared');
      assert.equal((await focused(page)).id, 'node-agent-sku');
      await screenshot(page, 'add-pool-sku-mismatch');

      await page.getByLabel('Node agent SKU').selectOption(SKU);
      await page.getByRole('button', { name: 'Create pool' }).click();
      await page.waitForURL(/#\/pools\/portalpool$/);
      poolMade = true;
    });

    test('the pool page: Custom VM image, the image disks, the heat map turning idle, charts', async (t) => {
      if (!poolMade) {
        t.skip('the Add pool form did not make the pool');
        return;
      }
      await page.getByRole('heading', { name: 'Pool portalpool' }).waitFor();
      assert.equal(await page.locator('#pool-os').innerText(), 'Custom VM image');
      const disks = page.locator('#pool-image table');
      await disks.getByText('OS disk').waitFor();
      await disks.getByText('Data disk (LUN 0)').waitFor();
      await page.locator('.heatmap .cell[data-state="idle"]').nth(1).waitFor({ timeout: STATE_TIMEOUT });
      assert.equal(await page.locator('.heatmap .cell').count(), 2);
      await page.locator('.legend').getByText('idle').waitFor();
      await page.locator('#pool-charts svg[role="img"]').first().waitFor();
      await screenshot(page, 'pool');
      // Resize through the page's form: the timeout follows the guidance, the heat map grows to 3 idle nodes.
      const resize = page.getByRole('form', { name: 'Resize pool' });
      await resize.getByLabel('Dedicated nodes').fill('1001');
      assert.equal(await resize.getByLabel('Resize timeout (minutes)').inputValue(), '30');
      await resize.getByLabel('Dedicated nodes').fill('3');
      await resize.getByRole('button', { name: 'Resize', exact: true }).click();
      await page.locator('.heatmap .cell[data-state="idle"]').nth(2).waitFor({ timeout: STATE_TIMEOUT });
      await page.locator('#pool-facts').getByText('3 of 3').waitFor({ timeout: STATE_TIMEOUT });
    });

    test("a node's start-task stdout shows what the start task printed", async (t) => {
      if (!poolMade) {
        t.skip('the Add pool form did not make the pool');
        return;
      }
      await page.locator('.heatmap .cell').first().click();
      await page.getByRole('heading', { name: /^Node tvm/ }).waitFor();
      await page.getByRole('button', { name: 'stdout.txt' }).click();
      const content = page.locator('#file-content');
      await content.getByText('tool-v1 portal').waitFor();
      assert.equal((await content.innerText()).trimEnd(), 'tool-v1 portal\nreference-data-42\n0');
      await page.getByRole('button', { name: 'stderr.txt' }).click();
      await content.getByText('(stderr.txt is empty)').waitFor();
      await screenshot(page, 'node');
      // Remove this node from the pool (the page asks first): back on the pool page, two nodes remain.
      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Remove from pool' }).click();
      await page.waitForURL(/#\/pools\/portalpool$/);
      await page.locator('#pool-facts').getByText('2 of 2').waitFor({ timeout: STATE_TIMEOUT });
      await waitForCount(page.locator('.heatmap .cell'), 2);
    });

    test('jobs and tasks with states and exit codes; the gallery with replication', async (t) => {
      if (!poolMade) {
        t.skip('the Add pool form did not make the pool');
        return;
      }
      const batch = sharedKeyBatch(server);
      await batch.job.add({ id: 'portaljob', poolInfo: { poolId: 'portalpool' } });
      await batch.task.add('portaljob', { id: 'three', commandLine: "/bin/sh -c 'exit 3'" });
      await page.goto(`${origin}/portal#/jobs`);
      await page.getByRole('link', { name: 'portaljob' }).click();
      const row = page.locator('#job-tasks tr', { hasText: 'three' });
      await row.getByText('completed').waitFor({ timeout: STATE_TIMEOUT });
      assert.match(await row.innerText(), /\b3\b/);
      assert.match(await row.innerText(), /failure/);
      await batch.task.add('portaljob', { id: 'hello', commandLine: "/bin/sh -c 'echo hello-from-task'" });
      await page.locator('#job-tasks').getByRole('link', { name: 'hello' }).click();
      await page.getByRole('heading', { name: 'Task hello' }).waitFor();
      await page.locator('#task-facts').getByText('success').waitFor({ timeout: STATE_TIMEOUT });
      await page.getByRole('button', { name: 'stdout.txt' }).click();
      await page.locator('#file-content').getByText('hello-from-task').waitFor();
      await screenshot(page, 'job');
      await page.goto(`${origin}/portal#/galleries`);
      await page.locator('#galleries').getByText('West Europe: Completed 100%').waitFor();
      // A new version replicating to two regions appears and completes on the open page (it polls).
      const c = server.connection;
      await computeClient(c).galleryImageVersions.createOrUpdate(
        c.resourceGroup,
        'pools',
        'tool',
        '1.1.0',
        {
          location: 'westeurope',
          storageProfile: { source: { id: imageId } },
          publishingProfile: { targetRegions: [{ name: 'westeurope' }, { name: 'northeurope' }] },
        },
        { updateIntervalInMs: 100 },
      );
      const version = page.locator('#galleries tr', { hasText: '1.1.0' });
      await version.getByText('North Europe: Completed 100%').waitFor({ timeout: STATE_TIMEOUT });
      await version.getByText('West Europe: Completed 100%').waitFor();
      await screenshot(page, 'galleries');
      // "New pool" on a version opens the form with the cascading pickers walked to it.
      await page.getByRole('link', { name: 'New pool from tool 1.1.0' }).click();
      await page.getByRole('heading', { name: 'Add pool' }).waitFor();
      await page.locator('#gallery-replication').getByText('North Europe: Completed 100%').waitFor();
      assert.equal(
        await page.getByLabel('Image version').inputValue(),
        versionId.replace(/1\.0\.0$/, '1.1.0'),
      );
      assert.equal(await page.getByRole('radio', { name: 'Shared Image Gallery' }).isChecked(), true);
    });

    test("a pool whose image has no replica in the account's region shows its resize error", async () => {
      const c = server.connection;
      const compute = computeClient(c);
      const poll = { updateIntervalInMs: 100 };
      await compute.galleries.createOrUpdate(c.resourceGroup, 'far', { location: 'eastus' }, poll);
      const identifier = { publisher: 'contoso', offer: 'far', sku: 'v1' };
      const definition = { location: 'eastus', osType: 'Linux', osState: 'Generalized', identifier } as const;
      await compute.galleryImages.createOrUpdate(c.resourceGroup, 'far', 'tool', definition, poll);
      const far = await compute.galleryImageVersions.createOrUpdate(
        c.resourceGroup,
        'far',
        'tool',
        '1.0.0',
        {
          location: 'eastus',
          storageProfile: { source: { id: imageId } },
          publishingProfile: { targetRegions: [{ name: 'eastus' }] },
        },
        poll,
      );
      const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
      const batch = new BatchServiceClient(new TokenCredentials(token.token), origin);
      await batch.pool.add({
        id: 'farpool',
        vmSize: 'standard_a1_v2',
        virtualMachineConfiguration: {
          imageReference: { virtualMachineImageId: far.id ?? '' },
          nodeAgentSKUId: SKU,
        },
        targetDedicatedNodes: 1,
      });
      await page.goto(`${origin}/portal#/pools/farpool`);
      const errors = page.locator('#resize-errors');
      await errors.getByText('AllocationFailed').waitFor({ timeout: STATE_TIMEOUT });
      assert.match(await errors.innerText(), /image is not found.* Reason=ImageNotReplicatedToRegion/);
      await page.locator('#pool-image').getByText('East US: Completed 100%').waitFor();
      await screenshot(page, 'pool-resize-error');
    });

    test('the planner answers the large-pool questions for 3,000 nodes, with the given settings predicted', async () => {
      await page.goto(`${origin}/portal#/plan?nodes=3000`);
      await page.getByRole('heading', { name: 'Plan a large pool' }).waitFor();
      const guidance = page.locator('#plan-guidance');
      await guidance.getByText('10 (one per 300 nodes)').waitFor();
      await guidance.getByText('45 min (15 minutes per 1,000 nodes)').waitFor();
      await page.getByLabel('Replicas you have (optional)').fill('1');
      await page.getByLabel('Resize timeout you have, minutes (optional)').fill('15');
      await page.getByRole('button', { name: 'Plan' }).click();
      const given = page.locator('#plan-result tr', { hasText: 'given' });
      await given.getByText('AllocationTimedout').waitFor();
      assert.match(await given.innerText(), /375 \/ 3000/);
      assert.equal(await page.locator('.plan-chart rect.recommended').count(), 1);
      await screenshot(page, 'plan');
    });

    test('at a phone width (375 px) nothing scrolls sideways', async () => {
      await page.setViewportSize({ width: 375, height: 800 });
      const pages: [string, string][] = [
        ['#/overview', 'overview'],
        ['#/pools', 'pools'],
        ['#/pools/new', 'add-pool'],
        ['#/pools/portalpool', 'pool'],
        ['#/galleries', 'galleries'],
        ['#/plan', 'plan'],
      ];
      for (const [hash, name] of pages) {
        await page.goto(`${origin}/portal${hash}`);
        await page.locator('h1').first().waitFor();
        await page.locator('main p:has-text("Loading…")').first().waitFor({ state: 'detached' });
        assert.equal(await horizontalOverflow(page), 0, `${name} overflows at 375 px`);
        await screenshot(page, name);
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      assert.deepEqual(browser.errors, []);
    });
  });
});
