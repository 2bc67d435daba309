import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../errors.ts';
import { checkContainerSettings, parseRunOptions } from './container-settings.ts';

const refused = (code: string, target: string) => (e: unknown) => {
  assert.ok(e instanceof DomainError);
  assert.deepEqual([e.code, e.target], [code, target]);
  return true;
};

test('run options: --env and --workdir in their spellings, quotes kept together', () => {
  assert.deepEqual(parseRunOptions(`--env A=1 -e B="two words" --env=C=3 -w /data --workdir=/x`, 'o'), {
    env: { A: '1', B: 'two words', C: '3' },
    workdir: '/x',
  });
  assert.deepEqual(parseRunOptions('', 'o'), { env: {} });
});

test('run options this server does not take, or malformed ones, are refused by name', () => {
  assert.throws(() => parseRunOptions('--privileged', 'o'), refused('UnsupportedProperty', 'o'));
  assert.throws(() => parseRunOptions('--env A=1 -v /:/host', 'o'), refused('UnsupportedProperty', 'o'));
  assert.throws(() => parseRunOptions('--user 0', 'o'), refused('UnsupportedProperty', 'o'));
  assert.throws(() => parseRunOptions('--env', 'o'), refused('InvalidPropertyValue', 'o'));
  assert.throws(() => parseRunOptions('--env 1A=x', 'o'), refused('InvalidPropertyValue', 'o'));
  assert.throws(() => parseRunOptions('--env NOVALUE', 'o'), refused('InvalidPropertyValue', 'o'));
  assert.throws(() => parseRunOptions('--workdir ../x', 'o'), refused('InvalidPropertyValue', 'o'));
});

test('containerSettings: the image name, registry refused, the working directory mode', () => {
  checkContainerSettings({ imageName: 'r.io/a:1', workingDirectory: 'containerImageDefault' });
  assert.throws(
    () => {
      checkContainerSettings({});
    },
    refused('MissingRequiredProperty', 'containerSettings.imageName'),
  );
  assert.throws(
    () => {
      checkContainerSettings({ imageName: 'Bad Name' });
    },
    refused('InvalidPropertyValue', 'containerSettings.imageName'),
  );
  assert.throws(
    () => {
      checkContainerSettings({ imageName: 'a', registry: { username: 'u', password: 'p' } });
    },
    refused('UnsupportedProperty', 'containerSettings.registry'),
  );
  assert.throws(
    () => {
      checkContainerSettings({ imageName: 'a', workingDirectory: 'elsewhere' });
    },
    refused('InvalidPropertyValue', 'containerSettings.workingDirectory'),
  );
  assert.throws(
    () => {
      checkContainerSettings({ imageName: 'a', containerRunOptions: '--rm' });
    },
    refused('UnsupportedProperty', 'containerSettings.containerRunOptions'),
  );
});
