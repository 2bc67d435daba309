import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueryError } from './errors.ts';
import { evaluateFilter, parseFilter } from './filter.ts';
import { decodeSkipToken, encodeSkipToken, nextLink, pageOf, parseMaxResults } from './paging.ts';

const limits = { max: 1000, default: 1000 };

const refusal = (fn: () => unknown): QueryError => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof QueryError);
    return e;
  }
  return assert.fail('expected a QueryError');
};

describe('parseMaxResults', () => {
  test('defaults when absent and accepts 1..max', () => {
    assert.equal(parseMaxResults(undefined, limits), 1000);
    assert.equal(parseMaxResults(undefined, { max: 1000, default: 50 }), 50);
    assert.equal(parseMaxResults('1', limits), 1);
    assert.equal(parseMaxResults('1000', limits), 1000);
    assert.equal(parseMaxResults('007', limits), 7);
  });

  test('integers outside the range are out-of-range', () => {
    for (const value of ['0', '1001', '-5', '99999999999999999999']) {
      const e = refusal(() => parseMaxResults(value, limits));
      assert.equal(e.parameter, 'maxresults');
      assert.equal(e.kind, 'out-of-range', value);
      assert.equal(e.reason, 'The value must be between 1 and 1000.');
    }
  });

  test('non-integers are invalid', () => {
    for (const value of ['', ' 5', 'x', '1.5', '1e3', '0x10', '5 ']) {
      const e = refusal(() => parseMaxResults(value, limits));
      assert.equal(e.parameter, 'maxresults');
      assert.equal(e.kind, 'invalid', JSON.stringify(value));
    }
  });
});

describe('skip tokens', () => {
  test('round-trip any key, URL-safe', () => {
    for (const key of ['pool-1', '', "o'brien/é & ?=#", 'x'.repeat(300)]) {
      const token = encodeSkipToken(key);
      assert.match(token, /^[A-Za-z0-9_-]+$/);
      assert.equal(decodeSkipToken(token), key);
    }
  });

  test('anything else is refused', () => {
    const bad = [
      '',
      'garbage!',
      'abc def',
      Buffer.from('not json').toString('base64url'),
      Buffer.from('"a string"').toString('base64url'),
      Buffer.from('null').toString('base64url'),
      Buffer.from('{"v":2,"after":"a"}').toString('base64url'),
      Buffer.from('{"v":1,"after":5}').toString('base64url'),
      encodeSkipToken('a') + '=',
    ];
    for (const token of bad) {
      const e = refusal(() => decodeSkipToken(token));
      assert.equal(e.parameter, '$skiptoken');
      assert.equal(e.kind, 'invalid');
      assert.equal(e.reason, 'The continuation token is not valid.');
    }
  });
});

describe('pageOf', () => {
  const items = ['a', 'b', 'c', 'd', 'e'];
  const key = (s: string) => s;

  test('first page, middle page, last page', () => {
    assert.deepEqual(pageOf(items, key, 2, undefined), { page: ['a', 'b'], nextAfter: 'b' });
    assert.deepEqual(pageOf(items, key, 2, 'b'), { page: ['c', 'd'], nextAfter: 'd' });
    assert.deepEqual(pageOf(items, key, 2, 'd'), { page: ['e'] });
  });

  test('an exactly full last page has no nextAfter', () => {
    assert.deepEqual(pageOf(items, key, 5, undefined), { page: items });
    assert.deepEqual(pageOf(items, key, 3, 'b'), { page: ['c', 'd', 'e'] });
  });

  test('the key is exclusive and need not be present', () => {
    assert.deepEqual(pageOf(items, key, 2, 'bb'), { page: ['c', 'd'], nextAfter: 'd' });
    assert.deepEqual(pageOf(items, key, 2, ''), { page: ['a', 'b'], nextAfter: 'b' });
    assert.deepEqual(pageOf(items, key, 2, 'z'), { page: [] });
    assert.deepEqual(pageOf([], key, 2, undefined), { page: [] });
  });

  test('items deleted between pages do not disturb the next page', () => {
    assert.deepEqual(pageOf(['a', 'c', 'e'], key, 2, 'b'), { page: ['c', 'e'] });
  });

  test('uses keyOf on records', () => {
    const rows = [{ id: 'job-1' }, { id: 'job-2' }, { id: 'job-3' }];
    const { page, nextAfter } = pageOf(rows, (r) => r.id, 1, 'job-1');
    assert.deepEqual(page, [{ id: 'job-2' }]);
    assert.equal(nextAfter, 'job-2');
  });
});

describe('nextLink', () => {
  test('keeps every parameter verbatim and sets $skiptoken', () => {
    const url = new URL(
      "https://acct.lazurite.local:8443/pools?api-version=2024-07-01.20.0&$filter=state%20eq%20'active'&maxresults=2",
    );
    // URL itself escapes the quotes (%27); nextLink keeps its query as is.
    assert.equal(
      nextLink(url, 'TOKEN'),
      'https://acct.lazurite.local:8443/pools?api-version=2024-07-01.20.0&$filter=state%20eq%20%27active%27&maxresults=2&$skiptoken=TOKEN',
    );
  });

  test('replaces an existing $skiptoken, however it is spelled', () => {
    const url = new URL('https://h/jobs?%24skiptoken=old&api-version=1&$select=id&$SkipToken=older');
    assert.equal(nextLink(url, 'new'), 'https://h/jobs?api-version=1&$select=id&$skiptoken=new');
  });

  test('works without a query string', () => {
    assert.equal(nextLink(new URL('https://h/jobs#frag'), 'tok'), 'https://h/jobs?$skiptoken=tok');
  });

  test('three pages through nextLink and decodeSkipToken', () => {
    const pools = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8'].map((id, n) => ({
      id,
      state: n % 3 === 2 ? 'deleting' : 'active',
    }));
    let url = new URL(
      "https://h/pools?api-version=2024-07-01.20.0&$filter=state eq 'active'&maxresults=2&$select=id",
    );
    const pages: string[][] = [];
    for (let guard = 0; guard < 10; guard++) {
      const max = parseMaxResults(url.searchParams.get('maxresults') ?? undefined, limits);
      const filter = parseFilter(url.searchParams.get('$filter') ?? '', { state: 'enum' });
      const token = url.searchParams.get('$skiptoken');
      const after = token === null ? undefined : decodeSkipToken(token);
      const matching = pools.filter((p) => evaluateFilter(filter, p));
      const { page, nextAfter } = pageOf(matching, (p) => p.id, max, after);
      pages.push(page.map((p) => p.id));
      if (nextAfter === undefined) break;
      const link = nextLink(url, encodeSkipToken(nextAfter));
      url = new URL(link);
      assert.equal(url.href, link, 'the link is already in canonical form');
      assert.equal(url.searchParams.get('api-version'), '2024-07-01.20.0');
      assert.equal(url.searchParams.get('$select'), 'id');
      assert.equal(url.searchParams.getAll('$skiptoken').length, 1);
    }
    assert.deepEqual(pages, [
      ['p1', 'p2'],
      ['p4', 'p5'],
      ['p7', 'p8'],
    ]);
  });
});
