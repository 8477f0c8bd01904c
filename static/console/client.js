/* The console's three long-lived parts: the ChatClient (lib/client.js) with the hooks that draw
 * what each frame changed, the MessageList of the open conversation (lib/messages.js) and the
 * composer (lib/composer.js). Made here, once, from function declarations of the other modules
 * only, so the order in which the modules load does not matter.
 */
import { ChatClient } from '../lib/client.js';
import { bindComposer } from '../lib/composer.js';
import { api } from './http.js';
import { dom, isNotesRoom, state, supportOf } from './state.js';
import { showConnection, onHello, onErrorFrame } from './session.js';
import {
  onUnread, onSupportActivity, onConversationMoved, onPresence,
} from './conversation-list.js';
import {
  onJoined, onMessage, onDeleted, loadOlder, renderTyping, onComposerInput,
} from './conversation-view.js';
import { skinTop, buildMessage } from './message-skin.js';
import { TimelineList } from './timeline.js';
import { onConversationUpdated, onSeenFrame, onViewers } from './desk.js';
import { onCannedInput } from './canned.js';
import { composerRoom } from './notes.js';
import { onStaffUpdated } from './team.js';

const utf8 = new TextEncoder();

/**
 * The shared client, with one addition of the desk: a message of a notes thread goes as a note
 * of its conversation, `{"type":"send","room":"support:<id>","text","note":true,"cid"}`, and is
 * acked with the thread's room (so it waits in the outbox under notes:<id>).
 */
class ConsoleClient extends ChatClient {
  transmit(p) {
    if (!isNotesRoom(p.room)) { super.transmit(p); return; }
    const frame = { type: 'send', room: supportOf(p.room), text: p.text, note: true, cid: p.cid };
    if (utf8.encode(JSON.stringify(frame)).length > this.limits.max_frame_bytes) {
      this.outbox.fail(p.cid, 'Too long to send. Please shorten it.');
      return;
    }
    this.sendIn(p.room, frame);
  }
}

/** The connection to the chat server and the rooms the console follows. */
export const client = new ConsoleClient({
  api,
  hooks: {
    status(s, retryAt) {
      showConnection(s, retryAt);
      list.render(); // pending messages say whether they wait for the connection
    },
    hello: onHello,
    joined: onJoined,
    message: onMessage,
    ack: (p, room) => { if (room && (room === state.open || room === state.notes)) list.render(); },
    history: (room) => { if (room === state.open || room === state.notes) list.render(); },
    deleted: onDeleted,
    presence: onPresence,
    typing: (room) => { if (room === state.open || room === state.notes) renderTyping(); },
    pending: () => list.render(),
    error: onErrorFrame,
    frame(f) {
      if (f.type === 'unread') onUnread(f);
      else if (f.type === 'support_activity') onSupportActivity(f);
      else if (f.type === 'conversation_moved') onConversationMoved(f);
      else if (f.type === 'conversation_updated') onConversationUpdated(f);
      else if (f.type === 'conversation_viewers') onViewers(f);
      else if (f.type === 'staff_updated') onStaffUpdated(f);
      else if (f.type === 'seen') onSeenFrame(f);
    },
    down: () => { list.render(); renderTyping(); },
  },
});

/** The open conversation's timeline on screen (its messages and its notes thread). */
export const list = new TimelineList({
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
    client.send(composerRoom(), text);
    list.render('bottom');
  },
  onInput: () => { onComposerInput(); onCannedInput(); },
});
