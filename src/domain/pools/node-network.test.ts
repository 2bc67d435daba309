import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addressCapacity,
  AddressPicker,
  DEFAULT_NODE_NETWORK,
  formatCidr,
  multiInstanceEnvironment,
  parseCidr,
  parseNodeNetwork,
  subnetOf,
  subnets,
  type Cidr,
} from './node-network.ts';

function picker(network: string, owned: string[], claimed: string[], used: string[]) {
  const claims: string[] = [];
  const p = new AddressPicker(parseNodeNetwork(network), owned, claimed, used, (s: Cidr) =>
    claims.push(formatCidr(s)),
  );
  return { p, claims };
}

describe('node address plan', () => {
  test('the default range is a private /16 cut into 64 subnets of /22', () => {
    const net = parseNodeNetwork(DEFAULT_NODE_NETWORK);
    assert.equal(net.prefix, 16);
    const all = subnets(net);
    assert.equal(all.length, 64);
    assert.equal(formatCidr(all[0] as Cidr), '10.213.0.0/22');
    assert.equal(formatCidr(all[63] as Cidr), '10.213.252.0/22');
  });

  test('a range smaller than a /22 is one subnet', () => {
    assert.deepEqual(subnets(parseNodeNetwork('192.168.7.0/24')).map(formatCidr), ['192.168.7.0/24']);
  });

  test('public, malformed, host-bit and tiny ranges are refused, saying why', () => {
    assert.throws(() => parseNodeNetwork('8.8.0.0/16'), /not private/);
    assert.throws(() => parseNodeNetwork('10.213.0.0'), /not an IPv4 network/);
    assert.throws(() => parseNodeNetwork('10.213.0.256/24'), /not an IPv4 network/);
    assert.throws(() => parseNodeNetwork('10.213.1.0/16'), /host bits set \(the network is 10\.213\.0\.0\)/);
    assert.throws(() => parseNodeNetwork('10.213.0.0/31'), /too small/);
    assert.throws(() => parseNodeNetwork('172.32.0.0/16'), /not private/);
    assert.equal(parseCidr('172.31.0.0/16').prefix, 16);
  });

  test('a host with no subnet claims the first free one; nodes get .2, .3, … and the gateway is .1', () => {
    const { p, claims } = picker('10.213.0.0/16', [], ['10.213.0.0/22'], []);
    const a = p.next();
    assert.deepEqual(claims, ['10.213.4.0/22']);
    assert.deepEqual(a, { address: '10.213.4.2', prefix: 22, gateway: '10.213.4.1', range: '10.213.0.0/16' });
    assert.equal(p.next()?.address, '10.213.4.3');
    assert.equal(subnetOf(a), '10.213.4.0/22');
  });

  test('addresses in use are skipped and released ones reused, lowest first', () => {
    const { p, claims } = picker(
      '10.213.0.0/16',
      ['10.213.8.0/22'],
      ['10.213.8.0/22'],
      ['10.213.8.2', '10.213.8.4'],
    );
    assert.deepEqual([p.next()?.address, p.next()?.address], ['10.213.8.3', '10.213.8.5']);
    assert.deepEqual(claims, []);
  });

  test('a full subnet (1,021 nodes: one bridge) makes the host claim another; a full range gives none', () => {
    const { p, claims } = picker('10.213.0.0/21', [], [], []);
    const got = Array.from({ length: 2 * 1021 }, () => p.next()?.address);
    assert.equal(got[1020], '10.213.3.254');
    assert.equal(got[1021], '10.213.4.2');
    assert.equal(new Set(got).size, 2042);
    assert.deepEqual(claims, ['10.213.0.0/22', '10.213.4.0/22']);
    assert.equal(p.next(), undefined);
  });

  test('subnets of another range (the option changed) are ignored', () => {
    const { p, claims } = picker('10.213.0.0/16', ['10.99.0.0/22'], ['10.99.0.0/22'], []);
    assert.equal(p.next()?.address, '10.213.0.2');
    assert.deepEqual(claims, ['10.213.0.0/22']);
  });

  test('multi-instance data: the nodes given to a task, primary first, as Batch formats them', () => {
    const nodes = [{ network: { address: '10.213.0.7' } }, {}, { network: { address: '10.213.0.3' } }];
    assert.deepEqual(multiInstanceEnvironment(nodes), {
      AZ_BATCH_HOST_LIST: '10.213.0.7,10.213.0.3',
      AZ_BATCH_NODE_LIST: '10.213.0.7;10.213.0.3',
      AZ_BATCH_MASTER_NODE: '10.213.0.7:6000',
    });
    assert.deepEqual(multiInstanceEnvironment([]), { AZ_BATCH_HOST_LIST: '', AZ_BATCH_NODE_LIST: '' });
  });
});

test('addressCapacity: each subnet less network, bridge and broadcast', () => {
  assert.equal(addressCapacity(parseCidr('10.213.0.0/16')), 64 * 1021);
  assert.equal(addressCapacity(parseCidr('10.214.16.0/20')), 4 * 1021);
  assert.equal(addressCapacity(parseCidr('10.9.0.0/29')), 5);
  assert.equal(addressCapacity(parseCidr('10.9.0.0/30')), 1);
});
