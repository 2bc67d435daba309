import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RESPONSE_VIOLATIONS_FILE } from '../../src/app/main.ts';
import { startServer, takeResponseViolations } from './harness.ts';

const line = (operation: string, message: string) =>
  `${JSON.stringify({ operation, method: 'GET', path: '/x', status: 200, specFile: 'f.json', message })}\n`;

test('a test server checks its answers; what the allow-list does not excuse is reported at the end of the file', async () => {
  const clean = await startServer(['--node-backend', 'simulated']);
  await fetch(`${clean.connection.armEndpoint}/health`);
  await clean.stop();
  assert.deepEqual(takeResponseViolations(), []); // the server's own answers so far match the spec

  const server = await startServer(['--node-backend', 'simulated']);
  const file = join(server.dataDir, RESPONSE_VIOLATIONS_FILE);
  appendFileSync(file, line('File_GetFromTask', 'status 304 is not one of the operation’s responses (200)'));
  appendFileSync(file, line('Pool_List', "The value of 'value[0].id' must be of type string."));
  await server.stop();
  // Taken here, so the harness's end-of-file check (which would fail this file) has nothing left to report.
  const found = takeResponseViolations();
  assert.equal(found.length, 1);
  assert.match(found[0] ?? '', /^Pool_List GET \/x → 200: The value of 'value\[0\]\.id'/);
});
