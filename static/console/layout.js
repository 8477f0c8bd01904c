/* The console's layout: the phone screens (inbox or conversation), the details drawer and the
 * composer's hint.
 */
import { client } from './client.js';
import { dom, phoneQuery } from './state.js';

export function setComposerHint() {
  dom.composer.placeholder = phoneQuery.matches ? 'Write a reply…'
    : 'Write a reply… (Enter to send, Shift+Enter for a new line)';
}

export function showScreen(screen) {
  dom.console.dataset.screen = screen;
  if (screen === 'list') client.stopTyping();
}

export function setDetailsOpen(open) {
  dom.console.classList.toggle('details-open', open);
  dom.scrim.hidden = !open;
  dom.detailsToggle.setAttribute('aria-expanded', String(open));
}
