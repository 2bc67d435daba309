import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.ts';

test('flags override environment, which overrides defaults', () => {
  const env = { LAZURITE_PORT: '9000', LAZURITE_HOST: '0.0.0.0', LAZURITE_IN_MEMORY: 'true' };
  const c = loadConfig({ port: '9100' }, env);
  assert.equal(c.port, 9100);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.inMemory, true);
  assert.equal(loadConfig({}, {}).port, 8443);
  assert.throws(() => loadConfig({ port: 'x' }, {}), ConfigError);
  assert.throws(() => loadConfig({ logLevel: 'loud' }, {}), ConfigError);
});
