/** A viewer for a run's stdout.txt and stderr.txt (start task on a node, or a task). */
import { batchText, messageOf } from '../api.ts';
import { h } from '../dom.ts';
import type { Session } from '../session.ts';

const FILES = ['stdout.txt', 'stderr.txt'] as const;

/**
 * Buttons for stdout/stderr (a tab-like toggle, aria-pressed) and the file's text below, read through the Batch
 * files API from `folder` (a node's `.../files/startup` or a task's `.../files`).
 */
export function fileViewer(session: Session, folder: string, label: string): HTMLElement {
  const output = h(
    'pre',
    { id: 'file-content', class: 'file', tabindex: 0, 'aria-live': 'polite' },
    'Choose a file.',
  );
  const buttons = FILES.map((name) =>
    h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', 'data-file': name }, name),
  );
  const show = async (name: string) => {
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.file === name));
    output.textContent = 'Loading…';
    try {
      const text = await batchText(session, `${folder}/${name}`);
      output.textContent = text === '' ? `(${name} is empty)` : text;
    } catch (err) {
      output.textContent = `Could not read ${name}: ${messageOf(err)}`;
    }
  };
  for (const b of buttons) b.addEventListener('click', () => void show(b.dataset.file ?? ''));
  return h('div', null, h('div', { class: 'toggles', role: 'group', 'aria-label': label }, buttons), output);
}
