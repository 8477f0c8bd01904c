/* "Seen" for the customer: how far the staff has read each support conversation, from
 * `joined.seen_seq` and the `seen` frames `by: "staff"`, and which of one's own messages shows
 * it (the last own message the staff has read). Shared by the chat page and the widget.
 */

export class SeenMarks {
  constructor() {
    /** room name -> the highest seq the staff has read */
    this.marks = new Map();
  }

  /** Takes `joined` of a room; true when its mark moved. */
  joined(f) {
    return typeof f.seen_seq === 'number' && this.raise(f.room, f.seen_seq);
  }

  /** Takes any frame; true when it is a `seen` by the staff that moved a room's mark. */
  frame(f) {
    return f.type === 'seen' && f.by === 'staff' && typeof f.seq === 'number' && this.raise(f.room, f.seq);
  }

  /** The mark only moves forward (a late or repeated `seen` changes nothing). */
  raise(room, seq) {
    if (seq <= (this.marks.get(room) || 0)) return false;
    this.marks.set(room, seq);
    return true;
  }

  /** Forgets every mark (signed out). */
  clear() { this.marks.clear(); }

  /**
   * The seq of the last own message of `room` (a client room: name, messages) that the staff
   * has read, or null: the one message that shows "Seen".
   */
  ownSeenSeq(room, isMine) {
    const mark = room ? this.marks.get(room.name) || 0 : 0;
    if (!mark) return null;
    for (let i = room.messages.length - 1; i >= 0; i--) {
      const m = room.messages[i];
      if (m.seq != null && m.seq <= mark && isMine(m)) return m.seq;
    }
    return null;
  }
}
