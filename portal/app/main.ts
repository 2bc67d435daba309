/** Boot and hash routing: `#/pools/{id}` etc.; each page gets a context that stops its polling on navigation. */
import { ApiError, messageOf } from './api.ts';
import { h, swap } from './dom.ts';
import type { PageContext } from './page.ts';
import { addPoolPage } from './pages/add-pool.ts';
import { galleriesPage } from './pages/galleries.ts';
import { jobPage, jobsPage, taskPage } from './pages/jobs.ts';
import { nodePage } from './pages/node.ts';
import { overviewPage } from './pages/overview.ts';
import { planPage } from './pages/plan.ts';
import { poolPage } from './pages/pool.ts';
import { poolsPage } from './pages/pools.ts';
import { signInPage } from './pages/sign-in.ts';
import { currentSession, signOut, type Session } from './session.ts';

type Page = (ctx: PageContext, params: string[]) => Promise<void> | void;

const ROUTES: [RegExp, Page][] = [
  [/^\/overview$/, overviewPage],
  [/^\/pools$/, poolsPage],
  [/^\/pools\/new$/, addPoolPage],
  [/^\/pools\/([^/]+)$/, poolPage],
  [/^\/pools\/([^/]+)\/nodes\/([^/]+)$/, nodePage],
  [/^\/jobs$/, jobsPage],
  [/^\/jobs\/([^/]+)$/, jobPage],
  [/^\/jobs\/([^/]+)\/tasks\/([^/]+)$/, taskPage],
  [/^\/galleries$/, galleriesPage],
  [/^\/plan$/, planPage],
];

const main = document.getElementById('main') as HTMLElement;
let current: AbortController | undefined;

function contextFor(session: Session, signal: AbortSignal, query: URLSearchParams): PageContext {
  return {
    session,
    signal,
    main,
    query,
    every(ms, tick) {
      const stopped = () => signal.aborted;
      const run = async () => {
        if (stopped()) return;
        try {
          await tick();
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) {
            signOut(); // the tokens expired or the server restarted with a new key: sign in again
            void route();
            return;
          }
          if (!stopped()) console.warn('refresh failed', messageOf(err));
        }
        if (!stopped()) setTimeout(() => void run(), ms);
      };
      void run();
    },
  };
}

function showAccount(session: Session | undefined): void {
  const nav = document.getElementById('nav') as HTMLElement;
  const account = document.getElementById('account') as HTMLElement;
  nav.hidden = session === undefined;
  if (session === undefined) {
    account.replaceChildren();
    return;
  }
  const out = h(
    'button',
    {
      type: 'button',
      class: 'link',
      onClick: () => {
        signOut();
        location.hash = '#/sign-in';
        void route();
      },
    },
    'Sign out',
  );
  account.replaceChildren(
    h('span', { class: 'who' }, `${session.batchAccountName} · ${session.clientId}`),
    out,
  );
}

function markCurrentLink(path: string): void {
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    const target = a.getAttribute('href')?.slice(1) ?? '';
    if (path === target || path.startsWith(`${target}/`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route(): Promise<void> {
  const hash = location.hash;
  if (hash === '#main') return; // the skip link
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const session = currentSession();
  showAccount(session);
  const [rawPath = '', search = ''] = hash.replace(/^#/, '').split('?');
  const path = rawPath || '/overview';
  main.replaceChildren();
  if (session === undefined) {
    await signInPage(main, () => {
      location.hash = path === '/sign-in' ? '#/overview' : hash;
      void route();
    });
    return;
  }
  markCurrentLink(path);
  const match = ROUTES.map(([re, page]) => [re.exec(path), page] as const).find(([m]) => m !== null);
  if (!match) {
    location.hash = '#/overview';
    return;
  }
  const [m, page] = match;
  try {
    await page(
      contextFor(session, controller.signal, new URLSearchParams(search)),
      (m?.slice(1) ?? []).map(decodeURIComponent),
    );
  } catch (err) {
    if (!controller.signal.aborted) swap(main, h('p', { class: 'error', role: 'alert' }, messageOf(err)));
  }
  main.querySelector('h1')?.focus();
}

window.addEventListener('hashchange', () => void route());
void route();
