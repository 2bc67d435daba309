import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../errors.ts';
import { checkNetworkConfiguration, connectionAllowed, remoteLoginEndpoint } from './endpoint-config.ts';

const ssh = (extra: Record<string, unknown> = {}) => ({
  name: 'ssh',
  protocol: 'tcp',
  backendPort: 22,
  frontendPortRangeStart: 4000,
  frontendPortRangeEnd: 4100,
  ...extra,
});
const config = (...pools: unknown[]) => ({ endpointConfiguration: { inboundNATPools: pools } });

/** The check's error: its code and the property it names. */
function refusal(value: unknown): [string, string | undefined] {
  try {
    checkNetworkConfiguration(value);
  } catch (err) {
    assert.ok(err instanceof DomainError);
    return [err.code, err.values.PropertyName];
  }
  return ['accepted', undefined];
}

test('inbound NAT pools: Batch’s checks, each refusal naming the property', () => {
  const at = 'networkConfiguration.endpointConfiguration.inboundNATPools[0]';
  assert.deepEqual(refusal(config(ssh())), ['accepted', undefined]);
  assert.deepEqual(refusal(config(ssh({ frontendPortRangeEnd: 4020 }))), [
    'InvalidPropertyValue',
    `${at}.frontendPortRangeEnd`,
  ]);
  assert.deepEqual(refusal(config(ssh({ frontendPortRangeStart: 50010, frontendPortRangeEnd: 50100 }))), [
    'InvalidPropertyValue',
    `${at}.frontendPortRangeStart`,
  ]);
  assert.deepEqual(refusal(config(ssh({ name: '-bad' }))), ['InvalidPropertyValue', `${at}.name`]);
  assert.deepEqual(refusal(config(ssh({ backendPort: 29876 }))), [
    'InvalidPropertyValue',
    `${at}.backendPort`,
  ]);
  assert.deepEqual(refusal(config(ssh({ backendPort: 80 }))), ['UnsupportedProperty', `${at}.backendPort`]);
  assert.deepEqual(refusal(config(ssh({ frontendPortRangeStart: undefined }))), [
    'MissingRequiredProperty',
    `${at}.frontendPortRangeStart`,
  ]);
  const rule = (r: Record<string, unknown>) => config(ssh({ networkSecurityGroupRules: [r] }));
  const ruleAt = `${at}.networkSecurityGroupRules[0]`;
  assert.deepEqual(refusal(rule({ priority: 100, access: 'deny', sourceAddressPrefix: '*' })), [
    'InvalidPropertyValue',
    `${ruleAt}.priority`,
  ]);
  assert.deepEqual(refusal(rule({ priority: 150, access: 'block', sourceAddressPrefix: '*' })), [
    'InvalidPropertyValue',
    `${ruleAt}.access`,
  ]);
  assert.deepEqual(refusal(rule({ priority: 150, access: 'deny', sourceAddressPrefix: '10.0.0.0/33' })), [
    'InvalidPropertyValue',
    `${ruleAt}.sourceAddressPrefix`,
  ]);
  assert.deepEqual(refusal(rule({ priority: 150, access: 'deny', sourceAddressPrefix: 'Internet' })), [
    'UnsupportedProperty',
    `${ruleAt}.sourceAddressPrefix`,
  ]);
  assert.deepEqual(
    refusal(
      rule({ priority: 150, access: 'deny', sourceAddressPrefix: '*', sourcePortRanges: ['1-100', '50'] }),
    ),
    ['InvalidPropertyValue', `${ruleAt}.sourcePortRanges`],
  );
  const twoRules = config(
    ssh({
      networkSecurityGroupRules: [
        { priority: 150, access: 'deny', sourceAddressPrefix: '*' },
        { priority: 150, access: 'allow', sourceAddressPrefix: '*' },
      ],
    }),
  );
  assert.deepEqual(refusal(twoRules), [
    'InvalidPropertyValue',
    `${at}.networkSecurityGroupRules[1].priority`,
  ]);
  const overlap = config(
    ssh(),
    ssh({ name: 'other', backendPort: 2222, frontendPortRangeStart: 4050, frontendPortRangeEnd: 4200 }),
  );
  assert.equal(refusal(overlap)[0], 'InvalidPropertyValue');
  assert.deepEqual(refusal({ subnetId: '/subscriptions/x' }), [
    'UnsupportedProperty',
    'networkConfiguration.subnetId',
  ]);
});

test('NSG rules: priority order, first match decides; rules without a match deny; no rules allow', () => {
  const rules = [
    { priority: 300, access: 'allow' as const, sourceAddressPrefix: '*' },
    { priority: 150, access: 'deny' as const, sourceAddressPrefix: '127.0.0.0/8' },
    {
      priority: 200,
      access: 'allow' as const,
      sourceAddressPrefix: '127.0.0.5',
      sourcePortRanges: ['1000-2000'],
    },
  ];
  assert.equal(connectionAllowed(rules, '127.0.0.5', 1500), false);
  assert.equal(connectionAllowed(rules, '::ffff:127.0.0.1', 40000), false);
  assert.equal(connectionAllowed(rules, '10.1.2.3', 40000), true);
  assert.equal(connectionAllowed([], '10.1.2.3', 40000), true);
  assert.equal(
    connectionAllowed(
      [{ priority: 150, access: 'allow', sourceAddressPrefix: '10.0.0.0/8' }],
      '192.168.1.1',
      1,
    ),
    false,
  );
  assert.equal(
    connectionAllowed([{ priority: 150, access: 'allow', sourceAddressPrefix: '10.0.0.0/8' }], '10.9.9.9', 1),
    true,
  );
});

test('the remote-login endpoint is the NAT pool with backend port 22', () => {
  const spec = {
    networkConfiguration: config(
      ssh({ networkSecurityGroupRules: [{ priority: 150, access: 'deny', sourceAddressPrefix: '*' }] }),
    ),
  };
  assert.deepEqual(remoteLoginEndpoint(spec), {
    ports: { first: 4000, last: 4100 },
    rules: [{ priority: 150, access: 'deny', sourceAddressPrefix: '*' }],
  });
  assert.deepEqual(remoteLoginEndpoint({}), { rules: [] });
});
