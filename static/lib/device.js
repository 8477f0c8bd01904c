/* The device id: a random id this browser keeps, sent as `X-Chat-Device` on the sign-in calls.
 * The server also sets it as the `chat_device` cookie; the copy here is for the widget in a
 * store's iframe, where the browser may block that cookie. Either one lets a ban staff place
 * cover this browser, not only the account. */

const KEY = 'chat.device';
const VALID = /^[A-Za-z0-9_-]{16,64}$/;
let memory = null; // when localStorage is blocked too: this page's lifetime only

function randomId() {
  if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** This browser's device id, made on first use. */
export function deviceId() {
  try {
    const stored = localStorage.getItem(KEY);
    if (stored && VALID.test(stored)) return stored;
    const id = randomId();
    localStorage.setItem(KEY, id);
    return id;
  } catch (_) {
    if (!memory) memory = randomId();
    return memory;
  }
}

/** Whether a call to this path should carry the device id (the sign-in calls and the ban check). */
export const carriesDevice = (path) => path.startsWith('/api/auth/');
