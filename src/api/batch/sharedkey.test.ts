import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signatureMatches, stringToSign, sign, type SignedRequest } from './sharedkey.ts';

// Vectors from the real @azure/batch 10.2.0 and Python azure-batch signers (shared/docs/api-reference.md §1.2.1).
const KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const DATE = 'Fri, 17 Feb 2017 00:00:00 GMT';

function req(method: string, url: string, headers: Record<string, string> = {}): SignedRequest {
  const [path = '', query = ''] = url.split('?');
  return { method, rawPath: path, rawQuery: query, headers: { 'ocp-date': DATE, ...headers } };
}

test('GET with $filter signs as both official clients do', () => {
  const r = req(
    'GET',
    '/pools?api-version=2022-10-01.16.0&maxresults=10&%24filter=state%20eq%20%27active%27',
  );
  assert.equal(
    stringToSign(r, 'myaccount', '', 'js'),
    "GET\n\n\n\n\n\n\n\n\n\n\n\nocp-date:Fri, 17 Feb 2017 00:00:00 GMT\n/myaccount/pools\n$filter:state eq 'active'\napi-version:2022-10-01.16.0\nmaxresults:10",
  );
  assert.equal(signatureMatches(r, 'myaccount', 'egbbdqPvrdQCq5hZOXbgYYRg/W2DC+Ogl6C2dkdZ9O8=', [KEY]), true);
});

test('POST without a body signs Content-Length 0', () => {
  const r = req('POST', '/pools/pool1/stopresize?api-version=2022-10-01.16.0', { 'content-length': '0' });
  assert.equal(signatureMatches(r, 'myaccount', '7VFNOC2VcMo0L9QUTEqe6GdVIA5Sv8kc2FPTvHSZBdU=', [KEY]), true);
});

test('DELETE verifies for the JS client (blank length, no header) and Python (sends and signs 0)', () => {
  const js = req('DELETE', '/pools/pool1?api-version=2022-10-01.16.0');
  assert.equal(
    signatureMatches(js, 'myaccount', '/gvTZMYTG4WPSf8WU3ZPLWLVqiskDr67zmgiYzMVLDI=', [KEY]),
    true,
  );
  const py = req('DELETE', '/pools/pool1?api-version=2022-10-01.16.0', { 'content-length': '0' });
  assert.equal(
    signatureMatches(py, 'myaccount', 'RuBrTAKCMHfJp/MCyztvtzse57u/yrqhEOJ/RAM5Trg=', [KEY]),
    true,
  );
});

test('a wrong key, a changed path or a changed date does not verify; either account key does', () => {
  const r = req('GET', '/pools?api-version=2022-10-01.16.0');
  const good = sign(KEY, stringToSign(r, 'myaccount', '', 'js'));
  const otherKey = Buffer.from('another-key-another-key-another!').toString('base64');
  assert.equal(signatureMatches(r, 'myaccount', good, [otherKey]), false);
  assert.equal(signatureMatches(r, 'myaccount', good, [otherKey, KEY]), true);
  assert.equal(
    signatureMatches(req('GET', '/jobs?api-version=2022-10-01.16.0'), 'myaccount', good, [KEY]),
    false,
  );
  const later = { ...r, headers: { 'ocp-date': 'Fri, 17 Feb 2017 00:00:01 GMT' } };
  assert.equal(signatureMatches(later, 'myaccount', good, [KEY]), false);
});
