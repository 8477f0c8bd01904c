/* The message box of both pages: Enter sends (Shift+Enter is a new line), the box grows with the
 * text, and the text is capped at the server's limit (hello.limits.max_message_chars, counted
 * in Unicode scalar values as the server counts), with a counter as the text nears the cap.
 */
import { charCount } from './format.js';

/** The counter shows once the text reaches this share of the cap. */
const COUNTER_FROM = 0.9;

/**
 * Wires a composer. `form`, `input` (a textarea), `counter` and `send` (the button) are its
 * elements; `maxChars()` the current cap; `canSend()` whether there is a room to send to;
 * `onSend(text)` gets the text, already cleared from the box; `onInput()` follows each change.
 * Returns `update()`, to call after changing the box's text or `canSend()` from outside.
 */
export function bindComposer({ form, input, counter, send, maxHeight, maxChars, canSend, onSend, onInput }) {
  const sendable = (text) => canSend() && !!text.trim() && charCount(text) <= maxChars();

  function update() {
    const text = input.value;
    const n = charCount(text);
    const max = maxChars();
    send.disabled = !sendable(text);
    counter.textContent = n < max * COUNTER_FROM ? ''
      : n > max ? `${n - max} characters too long` : `${n} / ${max}`;
    counter.classList.toggle('over', n > max);
    // Grow with the text, up to a limit (a style set from JS: allowed by the CSP).
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, maxHeight)}px`;
  }

  function submit() {
    const text = input.value;
    if (!sendable(text)) return;
    input.value = '';
    update();
    onSend(text);
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  input.addEventListener('keydown', (e) => {
    // Not while an input method is composing a character (isComposing, or keyCode 229).
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => { update(); if (onInput) onInput(); });
  return { update };
}
