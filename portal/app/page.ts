/** What every page gets from the router. */
import { h, type Child } from './dom.ts';
import type { Session } from './session.ts';

export interface PageContext {
  session: Session;
  /** Aborted when the user navigates away; polling stops with it. */
  signal: AbortSignal;
  main: HTMLElement;
  /** The route's query (`#/pools/new?image=...`). */
  query: URLSearchParams;
  /** Runs `tick` now and then every `ms` after it settles, until the page is left. */
  every(ms: number, tick: () => Promise<void>): void;
}

/** The page's title (focused after navigation, so screen readers and keyboard users start there). */
export function heading(text: string, ...extra: Child[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, text), extra);
}

/** A breadcrumb trail of links. */
export function crumbs(items: [string, string][]): HTMLElement {
  return h(
    'nav',
    { 'aria-label': 'Breadcrumb', class: 'crumbs' },
    h(
      'ol',
      null,
      items.map(([label, href]) => h('li', null, h('a', { href }, label))),
    ),
  );
}

/** A live section whose content a poll replaces (polite announcements for assistive technology). */
export function section(title: string, id: string, ...children: Child[]): HTMLElement {
  return h(
    'section',
    { 'aria-labelledby': `${id}-title`, class: 'card' },
    h('h2', { id: `${id}-title` }, title),
    h('div', { id }, children),
  );
}
