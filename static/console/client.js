/* The console's three long-lived parts: the ChatClient (lib/client.js) with the hooks that draw
 * what each frame changed, the MessageList of the open conversation (lib/messages.js) and the
 * composer (lib/composer.js). Made here, once, from function declarations of the other modules
 * only, so the order in which the modules load does not matter.
 */
import { ChatClient } from '../lib/client.js';
import { MessageList } from '../lib/messages.js';
import { bindComposer } from '../lib/composer.js';
import { api } from './http.js';
import { dom, state } from './state.js';
import { showConnection, onHello, onErrorFrame } from './session.js';
import {
  onUnread, onSupportActivity, onConversationMoved, onPresence,
} from './conversation-list.js';
import {
  onJoined, onMessage, onDeleted, loadOlder, renderTyping, onComposerInput,
} from './conversation-view.js';
import { skinTop, buildMessage } from './message-skin.js';

/** The connection to the chat server and the rooms the console follows. */
export const client = new ChatClient({
  api,
  hooks: {
    status(s, retryAt) {
      showConnection(s, retryAt);
      list.render(); // pending messages say whether they wait for the connection
    },
    hello: onHello,
    joined: onJoined,
    message: onMessage,
    ack: (p, room) => { if (room && room === state.open) list.render(); },
    history: (room) => { if (room === state.open) list.render(); },
    deleted: onDeleted,
    presence: onPresence,
    typing: (room) => { if (room === state.open) renderTyping(); },
    pending: () => list.render(),
    error: onErrorFrame,
    frame(f) {
      if (f.type === 'unread') onUnread(f);
      else if (f.type === 'support_activity') onSupportActivity(f);
      else if (f.type === 'conversation_moved') onConversationMoved(f);
    },
    down: () => { list.render(); renderTyping(); },
  },
});

/** The open conversation's messages on screen. */
export const list = new MessageList({
  box: dom.messages,
  jump: dom.jump,
  client,
  room: () => state.open,
  skin: {
    top: (o) => skinTop(o),
    // Day breaks are drawn by CSS from the message's data-day (.new-day), not as rows.
    message: (row) => buildMessage(row),
  },
  nearBottomPx: 120,
  olderAtPx: 150,
  onOlder: (o) => loadOlder(o),
});

/** The reply box. The cap and its counter follow the server's hello.limits.max_message_chars. */
export const composer = bindComposer({
  form: dom.composerForm,
  input: dom.composer,
  counter: dom.count,
  send: dom.send,
  maxHeight: 200,
  maxChars: () => client.limits.max_message_chars,
  canSend: () => !!state.open,
  onSend(text) {
    const o = state.open;
    state.drafts.delete(o.name);
    client.stopTyping();
    client.send(o.name, text);
    list.render('bottom');
  },
  onInput: () => onComposerInput(),
});
