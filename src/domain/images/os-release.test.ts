import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeRelease, parseOsRelease, releaseFitsSku } from './os-release.ts';

const UBUNTU_18 =
  'NAME="Ubuntu"\nVERSION="18.04.6 LTS (Bionic Beaver)"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="18.04"\n';
const DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';

describe('/etc/os-release and node agent SKUs (R9)', () => {
  test('parses quoted and bare values, skipping comments', () => {
    assert.deepEqual(parseOsRelease(`# comment\n${UBUNTU_18}`), {
      id: 'ubuntu',
      versionId: '18.04',
      idLike: ['debian'],
    });
    assert.deepEqual(parseOsRelease('ID=\'almalinux\'\nID_LIKE="rhel centos fedora"\nVERSION_ID=9.4'), {
      id: 'almalinux',
      versionId: '9.4',
      idLike: ['rhel', 'centos', 'fedora'],
    });
    assert.equal(describeRelease(parseOsRelease(DEBIAN_12)), 'debian 12');
    assert.equal(describeRelease(undefined), 'no /etc/os-release');
  });

  test('pairs Ubuntu releases exactly, other families by major version', () => {
    const ubuntu = parseOsRelease(UBUNTU_18);
    assert.equal(releaseFitsSku('batch.node.ubuntu 18.04', ubuntu), true);
    assert.equal(releaseFitsSku('batch.node.ubuntu 16.04', ubuntu), false);
    assert.equal(releaseFitsSku('batch.node.ubuntu 20.04', ubuntu), false);
    assert.equal(releaseFitsSku('batch.node.debian 12', ubuntu), false, 'ID_LIKE=debian is not Debian');
    assert.equal(releaseFitsSku('batch.node.ubuntu 18.04', parseOsRelease(DEBIAN_12)), false);
    assert.equal(
      releaseFitsSku('batch.node.debian 12', parseOsRelease('ID=debian\nVERSION_ID="12.5"')),
      true,
    );
    assert.equal(
      releaseFitsSku(
        'batch.node.el 9',
        parseOsRelease('ID=almalinux\nID_LIKE="rhel centos"\nVERSION_ID=9.4'),
      ),
      true,
    );
    assert.equal(
      releaseFitsSku('batch.node.lazurite tiny', parseOsRelease('ID=lazurite-tiny\nVERSION_ID=1')),
      true,
    );
    assert.equal(
      releaseFitsSku('batch.node.ubuntu 18.04', undefined),
      false,
      'no os-release fits no Linux SKU',
    );
    assert.equal(releaseFitsSku('batch.node.windows amd64', undefined), undefined);
  });
});
