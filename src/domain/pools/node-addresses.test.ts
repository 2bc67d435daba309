import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tinyPool, world } from './pools.fixture.ts';

describe('node addresses from the plan (agent sync)', () => {
  test('nodes get distinct addresses in their host subnet; removed ones are released and reused', async () => {
    const w = await world();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p1', 3));
    await w.settle();
    const addresses = async () =>
      (await w.pools.get(w.account, 'p1')).nodes.map((n) => n.network?.address).sort();
    assert.deepEqual(await addresses(), ['10.213.0.2', '10.213.0.3', '10.213.0.4']);
    const first = (await w.pools.get(w.account, 'p1')).nodes[0];
    assert.deepEqual(first?.network && { ...first.network, address: '' }, {
      address: '',
      prefix: 22,
      gateway: '10.213.0.1',
      range: '10.213.0.0/16',
    });
    await w.pools.resize(w.account, 'p1', { targetDedicatedNodes: 1 });
    await w.settle();
    const kept = await addresses();
    assert.equal(kept.length, 1);
    await w.pools.resize(w.account, 'p1', { targetDedicatedNodes: 3 });
    await w.settle();
    assert.deepEqual(await addresses(), ['10.213.0.2', '10.213.0.3', '10.213.0.4']);
  });

  test('another host claims its own subnet; the assignment carries the address to the executor', async () => {
    const w = await world();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p2', 2));
    await w.sizer.tick();
    const answer = await w.agents.sync({ hostId: 'h2', kind: 'simulated', reports: [] });
    assert.deepEqual(answer.nodes.map((a) => a.spec.network?.address).sort(), ['10.213.0.2', '10.213.0.3']);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p3', 1));
    await w.sizer.tick();
    const h1 = await w.agents.sync({ hostId: 'h1', kind: 'simulated', reports: [] });
    const p3 = h1.nodes.find((a) => a.spec.poolId === 'p3');
    assert.equal(p3?.spec.network?.address, '10.213.4.2');
    assert.equal(p3.spec.network.gateway, '10.213.4.1');
    const subnets = await w.ctx.store.transaction((tx) => tx.listHostSubnets());
    assert.deepEqual(
      subnets.sort((a, b) => a.subnet.localeCompare(b.subnet)),
      [
        { subnet: '10.213.0.0/22', hostId: 'h2' },
        { subnet: '10.213.4.0/22', hostId: 'h1' },
      ],
    );
  });
});
