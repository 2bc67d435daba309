/** Form building blocks: labelled fields with error slots, and the server's errors put next to their field. */
import { ApiError, messageOf } from '../api.ts';
import { h } from '../dom.ts';

/** A labelled control with an error slot the control is described by. */
export function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  control.setAttribute(
    'aria-describedby',
    [hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '),
  );
  return h(
    'div',
    { class: 'field', id: `${id}-field` },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }),
  );
}

export function input(
  id: string,
  type: string,
  value = '',
  extra: Record<string, string | number> = {},
): HTMLInputElement {
  return h('input', { id, name: id, type, value, ...extra });
}

export function clearErrors(form: HTMLFormElement): void {
  for (const e of form.querySelectorAll<HTMLElement>('.field-error')) {
    e.hidden = true;
    e.textContent = '';
  }
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

/**
 * Puts the server's error next to the field it names (Batch `values[PropertyName]`, ARM `target`, or a value key
 * that is a field) and in the banner; marks that control invalid and focuses it.
 */
export function showServerError(
  form: HTMLFormElement,
  banner: HTMLElement,
  err: unknown,
  how: { fieldOf: (property: string | undefined) => string | undefined; failed: string },
): void {
  banner.hidden = false;
  banner.textContent = `${how.failed}: ${messageOf(err)}`;
  if (!(err instanceof ApiError)) return;
  const property = err.property ?? Object.keys(err.values).find((k) => how.fieldOf(k) !== undefined);
  const fieldId = how.fieldOf(property);
  if (fieldId === undefined) return;
  const slot = form.querySelector<HTMLElement>(`#${fieldId}-error`);
  if (slot) {
    slot.textContent = `${err.message} (${err.code}${property ? `, ${property}` : ''})`;
    slot.hidden = false;
  }
  const control =
    fieldId === 'image'
      ? form.querySelector<HTMLElement>('.picker:not([hidden]) select')
      : form.querySelector<HTMLElement>(`#${fieldId}`);
  control?.setAttribute('aria-invalid', 'true');
  control?.focus();
}
