/** What a user can do to a pool from its page: resize (with the guidance's timeout), stop a resize, delete. */
import { recommendedResizeTimeoutMs } from 'lazurite/sizing-guidance';
import { batch, messageOf } from '../api.ts';
import { h } from '../dom.ts';
import type { Session } from '../session.ts';
import type { Pool } from '../wire.ts';
import { clearErrors, field, input, showServerError } from './form-fields.ts';

const FIELD_OF_PROPERTY: Record<string, string> = {
  targetdedicatednodes: 'resize-dedicated',
  targetlowprioritynodes: 'resize-low-priority',
  resizetimeout: 'resize-minutes',
};

function fieldOf(property: string | undefined): string | undefined {
  return FIELD_OF_PROPERTY[property?.split('.').at(-1)?.toLowerCase() ?? ''];
}

/** The resize form, prefilled with the pool's targets; the timeout follows the guidance until edited. */
export function resizeForm(s: Session, pool: Pool): HTMLFormElement {
  const path = `/pools/${encodeURIComponent(pool.id)}`;
  const dedicated = input('resize-dedicated', 'number', String(pool.targetDedicatedNodes), { min: 0 });
  const lowPriority = input('resize-low-priority', 'number', String(pool.targetLowPriorityNodes), { min: 0 });
  const minutes = input('resize-minutes', 'number', '15', { min: 5 });
  const banner = h('p', { class: 'error', role: 'alert', hidden: true });
  let edited = false;
  const suggest = () => {
    const nodes = (Number(dedicated.value) || 0) + (Number(lowPriority.value) || 0);
    if (!edited) minutes.value = String(Math.round(recommendedResizeTimeoutMs(nodes) / 60_000));
  };
  minutes.addEventListener('input', () => (edited = true));
  dedicated.addEventListener('input', suggest);
  lowPriority.addEventListener('input', suggest);
  suggest();
  const stop = h('button', { type: 'button', class: 'secondary' }, 'Stop resize');
  const form = h(
    'form',
    { class: 'resize-form', novalidate: true, 'aria-label': 'Resize pool' },
    h(
      'div',
      { class: 'row' },
      field('resize-dedicated', 'Dedicated nodes', dedicated),
      field('resize-low-priority', 'Low-priority nodes', lowPriority),
      field('resize-minutes', 'Resize timeout (minutes)', minutes),
    ),
    banner,
    h('p', { class: 'actions' }, h('button', { type: 'submit' }, 'Resize'), stop),
  );
  const run = (what: string, call: () => Promise<unknown>) => {
    clearErrors(form);
    banner.hidden = true;
    call().catch((err: unknown) => {
      showServerError(form, banner, err, { fieldOf, failed: what });
    });
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = {
      targetDedicatedNodes: dedicated.value === '' ? undefined : Number(dedicated.value),
      targetLowPriorityNodes: lowPriority.value === '' ? undefined : Number(lowPriority.value),
      resizeTimeout: minutes.value === '' ? undefined : `PT${minutes.value}M`,
    };
    run('The pool was not resized', () => batch(s, 'POST', `${path}/resize`, body));
  });
  stop.addEventListener('click', () => {
    run('The resize was not stopped', () => batch(s, 'POST', `${path}/stopresize`));
  });
  return form;
}

/** A delete button (asks first), which returns to the pools list. */
export function deleteButton(s: Session, id: string): HTMLButtonElement {
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete pool');
  remove.addEventListener('click', () => {
    if (!confirm(`Delete pool '${id}'? Its nodes are released.`)) return;
    batch(s, 'DELETE', `/pools/${encodeURIComponent(id)}`).then(
      () => (location.hash = '#/pools'),
      (err: unknown) => {
        alert(messageOf(err));
      },
    );
  });
  return remove;
}
