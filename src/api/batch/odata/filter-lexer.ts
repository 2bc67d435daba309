// Tokenizer for Batch `$filter` text. Internal to odata/: filter.ts is the public entry point.
import { FilterError } from './errors.ts';

export interface Token {
  /** `datetime` is a `datetime'…'` literal; `text` holds the quoted part. */
  kind: 'ident' | 'string' | 'datetime' | 'number' | 'punct';
  /** Identifier or path as written, unescaped string contents, number without type suffix, or punctuation. */
  text: string;
  /** 0-based offset of the token's first character in the filter text. */
  pos: number;
}

/** Positions in reasons are 0-based character offsets into the filter text. */
export const syntaxError = (pos: number, what: string): never => {
  throw new FilterError(`Syntax error at position ${pos}: ${what}`);
};

/** Reads a quoted string starting at `start` (on the opening quote); `''` is an escaped quote. */
function readString(text: string, start: number): { value: string; end: number } {
  let value = '';
  let i = start + 1;
  for (;;) {
    const close = text.indexOf("'", i);
    if (close < 0) return syntaxError(start, 'unterminated string literal.');
    value += text.slice(i, close);
    if (text[close + 1] !== "'") return { value, end: close + 1 };
    value += "'";
    i = close + 2;
  }
}

// Integer or decimal, optional exponent and OData type suffix (5L, 1.5d, 2.0M, 3f).
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const SUFFIX = /[lLmMdDfF]/;
// A property path: segments separated by '/', e.g. executionInfo/exitCode.
const WORD = /[A-Za-z_$][\w$]*(?:\/[A-Za-z_$][\w$]*)*/y;
const WORD_CHAR = /[\w$]/;
const DATETIME_PREFIXES = new Set(['datetime', 'datetimeoffset']);

function readNumber(text: string, i: number): { token: Token; end: number } {
  NUMBER.lastIndex = i;
  const m = NUMBER.exec(text);
  if (!m) return syntaxError(i, `unexpected '${text[i] ?? ''}'.`);
  let end = i + m[0].length;
  if (SUFFIX.test(text[end] ?? '') && !WORD_CHAR.test(text[end + 1] ?? '')) end++;
  if (WORD_CHAR.test(text[end] ?? '') || text[end] === '.') return syntaxError(i, 'invalid number literal.');
  return { token: { kind: 'number', text: m[0], pos: i }, end };
}

function readWord(text: string, i: number): { token: Token; end: number } {
  WORD.lastIndex = i;
  const word = WORD.exec(text)?.[0] ?? '';
  const end = i + word.length;
  if (text[end] === '/') return syntaxError(end + 1, "expected a property name after '/'.");
  if (DATETIME_PREFIXES.has(word.toLowerCase()) && text[end] === "'") {
    const s = readString(text, end);
    return { token: { kind: 'datetime', text: s.value, pos: i }, end: s.end };
  }
  return { token: { kind: 'ident', text: word, pos: i }, end };
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ kind: 'punct', text: ch, pos: i });
      i++;
      continue;
    }
    let read: { token: Token; end: number };
    if (ch === "'") {
      const s = readString(text, i);
      read = { token: { kind: 'string', text: s.value, pos: i }, end: s.end };
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      read = readNumber(text, i);
    } else if (/[A-Za-z_$]/.test(ch)) {
      read = readWord(text, i);
    } else {
      return syntaxError(i, `unexpected '${ch}'.`);
    }
    tokens.push(read.token);
    i = read.end;
  }
  return tokens;
}
