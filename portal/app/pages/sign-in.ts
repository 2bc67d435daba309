/** Sign-in with a service principal's credentials, prefilled with the server's well-known ones. */
import { h } from '../dom.ts';
import { loadConfig, signIn } from '../session.ts';

function field(id: string, label: string, value: string, type = 'text'): HTMLElement {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name: id, type, value, autocomplete: 'off', spellcheck: 'false', required: true }),
  );
}

export async function signInPage(main: HTMLElement, done: () => void): Promise<void> {
  const config = await loadConfig();
  const status = h('p', { id: 'sign-in-status', role: 'alert', class: 'error', hidden: true });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card sign-in', 'aria-describedby': 'sign-in-help' },
    h('h1', { tabindex: -1 }, 'Sign in'),
    h(
      'p',
      { id: 'sign-in-help' },
      'Use a service principal (client credentials). The well-known principal of this server is filled in.',
    ),
    field('tenant-id', 'Tenant ID', config.tenantId),
    field('client-id', 'Client ID', config.clientId),
    field('client-secret', 'Client secret', config.clientSecret, 'password'),
    status,
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = (id: string) => (form.querySelector(`#${id}`) as HTMLInputElement).value.trim();
    button.disabled = true;
    status.hidden = true;
    signIn(
      { tenantId: value('tenant-id'), clientId: value('client-id'), clientSecret: value('client-secret') },
      config,
    ).then(done, (err: unknown) => {
      status.textContent = `Sign-in failed: ${err instanceof Error ? err.message : String(err)}`;
      status.hidden = false;
      button.disabled = false;
    });
  });
  main.replaceChildren(form);
  form.querySelector('h1')?.focus();
}
