import { createHash } from 'node:crypto';
import { invalidInput } from '../../domain/errors.ts';
import { depthExceededAt, MAX_JSON_DEPTH } from '../http/json-depth.ts';

/** How deep template function calls may nest (each level is a frame of the evaluator). */
export const MAX_EXPRESSION_DEPTH = 64;

/** What template expressions can see: the deployment's scope and its evaluated parameters and variables. */
export interface TemplateScope {
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tenantId: string;
  parameters: Record<string, unknown>;
  variables: Record<string, unknown>;
  /** Inside a copy loop: each enclosing loop's index by lower-cased name, and the innermost loop's name. */
  copyIndexes?: Record<string, number>;
  loop?: string;
}

/** copyIndex(), copyIndex(offset), copyIndex('loop'), copyIndex('loop', offset). */
function copyIndex(args: unknown[], scope: TemplateScope): number {
  const named = typeof args[0] === 'string';
  const loop = named ? String(args[0]) : scope.loop;
  const offset = Number(named ? (args[1] ?? 0) : (args[0] ?? 0));
  const index = loop === undefined ? undefined : scope.copyIndexes?.[loop.toLowerCase()];
  if (index === undefined)
    throw invalidInput(
      'InvalidTemplate',
      `The template function 'copyIndex' is only allowed in a copy loop${named ? ` named '${String(args[0])}'` : ''}.`,
      'properties.template',
    );
  return index + offset;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * uniqueString(...): 13 characters of lower-case base32, deterministic for its arguments, as ARM's is. ARM hashes
 * with its own 64-bit function; we take the first 65 bits of a SHA-256 of the arguments, so values differ from
 * Azure's but have the same shape and the same stability.
 */
function uniqueString(args: unknown[]): string {
  const digest = createHash('sha256').update(args.map(String).join('-')).digest();
  let bits = 0n;
  for (const byte of digest.subarray(0, 9)) bits = (bits << 8n) | BigInt(byte);
  let out = '';
  for (let i = 0; i < 13; i++) out += BASE32.charAt(Number((bits >> BigInt(67 - 5 * (i + 1))) & 31n));
  return out;
}

type Token = { kind: 'ident' | 'string' | 'number' | 'punct'; text: string };

// Sticky: matched where the tokenizer stands, without copying the rest of the expression each time.
const NUMBER = /-?\d+/y;
const IDENT = /[A-Za-z_]\w*/y;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) i++;
    else if ('(),.[]'.includes(c)) {
      out.push({ kind: 'punct', text: c });
      i++;
    } else if (c === "'") {
      let s = '';
      i++;
      while (i < src.length && !(src[i] === "'" && src[i + 1] !== "'")) {
        s += src[i] === "'" ? "'" : (src[i] ?? '');
        i += src[i] === "'" ? 2 : 1;
      }
      i++;
      out.push({ kind: 'string', text: s });
    } else if (/[-\d]/.test(c)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(src)?.[0] ?? c;
      out.push({ kind: 'number', text: m });
      i += m.length;
    } else {
      IDENT.lastIndex = i;
      const m = IDENT.exec(src)?.[0];
      if (!m)
        throw invalidInput(
          'InvalidTemplate',
          `Unexpected '${c}' in template expression '${src}'.`,
          'properties.template',
        );
      out.push({ kind: 'ident', text: m });
      i += m.length;
    }
  }
  return out;
}

/** resourceId([resourceGroup], type, name...) in the deployment's group. */
function resourceIdOf(args: unknown[], scope: TemplateScope): string {
  const parts = args.map(String);
  const [type = '', ...names] = parts.length % 2 === 0 && parts.length > 2 ? parts.slice(1) : parts;
  const [ns = '', ...types] = type.split('/');
  const path = types.map((t, i) => `${t}/${names[i] ?? ''}`).join('/');
  return `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}/providers/${ns}/${path}`;
}

/** add, sub, mul and length. */
function numeric(name: string, args: unknown[]): number {
  const [a, b] = [Number(args[0]), Number(args[1])];
  if (name === 'add') return a + b;
  if (name === 'sub') return a - b;
  if (name === 'mul') return a * b;
  const v = args[0];
  return typeof v === 'string' || Array.isArray(v) ? v.length : Object.keys(v ?? {}).length;
}

function call(name: string, args: unknown[], scope: TemplateScope): unknown {
  const s = (i: number) => {
    const v = args[i];
    return typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
  };
  switch (name.toLowerCase()) {
    case 'parameters':
      if (!(s(0) in scope.parameters))
        throw invalidInput(
          'InvalidTemplate',
          `The template parameter '${s(0)}' is not found.`,
          'properties.template',
        );
      return scope.parameters[s(0)];
    case 'variables':
      return scope.variables[s(0)];
    case 'concat':
      return args.every(Array.isArray) ? (args as unknown[][]).flat() : args.map(String).join('');
    case 'resourceid':
      return resourceIdOf(args, scope);
    case 'resourcegroup':
      return {
        id: `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}`,
        name: scope.resourceGroup,
        location: scope.location,
      };
    case 'subscription':
      return {
        id: `/subscriptions/${scope.subscriptionId}`,
        subscriptionId: scope.subscriptionId,
        tenantId: scope.tenantId,
      };
    case 'uniquestring':
      return uniqueString(args);
    case 'copyindex':
      return copyIndex(args, scope);
    case 'add':
    case 'sub':
    case 'mul':
    case 'length':
      return numeric(name.toLowerCase(), args);
    case 'tolower':
      return s(0).toLowerCase();
    case 'toupper':
      return s(0).toUpperCase();
    case 'string':
      return typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
    case 'int':
      return Number(args[0]);
    case 'bool':
      return args[0] === true || s(0).toLowerCase() === 'true';
    case 'if':
      return args[0] === true ? args[1] : args[2];
    case 'equals':
      return JSON.stringify(args[0]) === JSON.stringify(args[1]);
    case 'not':
      return args[0] !== true;
    case 'empty':
      return (
        args[0] === undefined ||
        args[0] === null ||
        args[0] === '' ||
        (Array.isArray(args[0]) && args[0].length === 0) ||
        (typeof args[0] === 'object' && Object.keys(args[0]).length === 0)
      );
    case 'createarray':
      return args;
    case 'json':
      return parseJsonArgument(s(0));
    default:
      throw invalidInput(
        'InvalidTemplate',
        `The template function '${name}' is not supported by Lazurite.`,
        'properties.template',
      );
  }
}

/** json(): the argument parsed, refused as InvalidTemplate when it is not JSON or nests too deeply. */
function parseJsonArgument(text: string): unknown {
  if (depthExceededAt(text) >= 0)
    throw invalidInput(
      'InvalidTemplate',
      `The argument of json() nests deeper than ${String(MAX_JSON_DEPTH)} levels.`,
      'properties.template',
    );
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidInput(
      'InvalidTemplate',
      `The argument of json() is not valid JSON: ${(err as Error).message}`,
      'properties.template',
    );
  }
}

class Evaluator {
  private i = 0;
  private depth = 0;
  private readonly tokens: Token[];
  private readonly scope: TemplateScope;
  constructor(tokens: Token[], scope: TemplateScope) {
    this.tokens = tokens;
    this.scope = scope;
  }
  private peek(text: string): boolean {
    return this.tokens[this.i]?.kind === 'punct' && this.tokens[this.i]?.text === text;
  }
  /** One expression, one nesting level deeper; past MAX_EXPRESSION_DEPTH the template is refused. */
  expr(): unknown {
    if (this.depth >= MAX_EXPRESSION_DEPTH)
      throw invalidInput(
        'InvalidTemplate',
        `A template expression nests deeper than ${String(MAX_EXPRESSION_DEPTH)} levels.`,
        'properties.template',
      );
    this.depth++;
    try {
      return this.term();
    } finally {
      this.depth--;
    }
  }

  private term(): unknown {
    const t = this.tokens[this.i++];
    if (!t) throw invalidInput('InvalidTemplate', 'A template expression ends early.', 'properties.template');
    let value: unknown;
    if (t.kind === 'string') value = t.text;
    else if (t.kind === 'number') value = Number(t.text);
    else if (t.kind === 'ident' && (t.text === 'true' || t.text === 'false')) value = t.text === 'true';
    else if (t.kind === 'ident') {
      const args: unknown[] = [];
      this.i++; // (
      while (!this.peek(')')) {
        args.push(this.expr());
        if (this.peek(',')) this.i++;
      }
      this.i++; // )
      value = call(t.text, args, this.scope);
    } else
      throw invalidInput(
        'InvalidTemplate',
        `Unexpected '${t.text}' in a template expression.`,
        'properties.template',
      );
    for (;;) {
      if (this.peek('.')) {
        this.i++;
        const key = this.tokens[this.i++]?.text ?? '';
        value = (value as Record<string, unknown> | undefined)?.[key];
      } else if (this.peek('[')) {
        this.i++;
        const key = this.expr();
        this.i++; // ]
        value = (value as Record<string, unknown> | undefined)?.[String(key)];
      } else return value;
    }
  }
}

/** Evaluates `[expression]` strings anywhere in a value; `[[` escapes a literal bracket. */
export function evaluate(value: unknown, scope: TemplateScope): unknown {
  if (typeof value === 'string') {
    if (value.startsWith('[[')) return value.slice(1);
    if (value.startsWith('[') && value.endsWith(']'))
      return new Evaluator(tokenize(value.slice(1, -1)), scope).expr();
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => evaluate(v, scope));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, scope)]));
  }
  return value;
}
