import type { FastifyReply } from 'fastify';
import type { Caller } from '../../domain/authorization/access.ts';
import { DomainError } from '../../domain/errors.ts';

/** What an ARM handler sees: matched path parameters, query, parsed body and the authenticated caller. */
export interface ArmRequest {
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  caller: Caller;
  /** The request URL's path as received (for building ids, nextLinks and Location headers). */
  path: string;
}

export interface ArmResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type ArmHandler = (req: ArmRequest) => Promise<ArmResponse>;

export interface ArmRoute {
  method: 'GET' | 'PUT' | 'PATCH' | 'DELETE' | 'POST' | 'HEAD';
  /**
   * Segments; `{name}` captures one segment, a leading `{*scope}` captures everything before the rest.
   * Literal segments match case-insensitively, as ARM does.
   */
  pattern: string;
  handler: ArmHandler;
}

interface CompiledRoute extends ArmRoute {
  segments: string[];
  scoped: boolean;
}

function matchSegments(pattern: string[], actual: string[]): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] ?? '';
    const a = actual[i] ?? '';
    if (p.startsWith('{') && p.endsWith('}')) params[p.slice(1, -1)] = a;
    else if (p.toLowerCase() !== a.toLowerCase()) return undefined;
  }
  return params;
}

export class ArmRouter {
  private readonly routes: CompiledRoute[] = [];

  add(...routes: ArmRoute[]): this {
    for (const r of routes) {
      const segments = r.pattern.split('/').filter(Boolean);
      const scoped = segments[0] === '{*scope}';
      this.routes.push({ ...r, segments: scoped ? segments.slice(1) : segments, scoped });
    }
    return this;
  }

  /** Finds the route for a path; `methods` lists what the path would accept when the method does not match. */
  match(
    method: string,
    path: string,
  ): { route: CompiledRoute; params: Record<string, string> } | { methods: string[] } | undefined {
    const actual = path.split('/').filter(Boolean).map(decodeSegment);
    const methods: string[] = [];
    for (const route of this.routes) {
      let params: Record<string, string> | undefined;
      if (route.scoped) {
        if (actual.length < route.segments.length) continue;
        const split = actual.length - route.segments.length;
        params = matchSegments(route.segments, actual.slice(split));
        if (params) params.scope = `/${actual.slice(0, split).join('/')}`;
      } else {
        params = matchSegments(route.segments, actual);
      }
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET' && !this.hasHead(route))) {
        return { route, params };
      }
      methods.push(route.method);
    }
    return methods.length > 0 ? { methods } : undefined;
  }

  private hasHead(route: CompiledRoute): boolean {
    return this.routes.some((r) => r.method === 'HEAD' && r.pattern === route.pattern);
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new DomainError('invalid-input', 'InvalidUri', `The request URI segment '${s}' is not valid.`);
  }
}

export async function sendArm(reply: FastifyReply, res: ArmResponse): Promise<void> {
  for (const [k, v] of Object.entries(res.headers ?? {})) void reply.header(k, v);
  void reply.code(res.status);
  if (res.body === undefined) await reply.send();
  else await reply.type('application/json; charset=utf-8').send(JSON.stringify(res.body));
}
