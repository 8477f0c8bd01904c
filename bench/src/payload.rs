//! The message text: `b|<sender>|<n>|<tag>|<nanos>|` padded with `x` to the requested size.
//! `sender` is the global sender index, `n` its counter (from 0), `tag` the phase it was sent in
//! (0 = warm-up, then the measured window or the ramp step), `nanos` the send time since the
//! benchmark's start `Instant` (one process, so no clock sync is needed).

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u64,
    pub n: u64,
    pub tag: u64,
    pub nanos: u64,
}

/// Appends the text of `s`, padded to `size` bytes.
pub fn write_text(out: &mut Vec<u8>, s: Stamp, size: usize) {
    let start = out.len();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "b|{}|{}|{}|{}|", s.sender, s.n, s.tag, s.nanos);
    if out.len() - start < size {
        out.resize(start + size, b'x');
    }
}

/// The stamp a text starts with. Only the stamp is read, not the padding after it, so `text`
/// may run on past the end of the text (into the rest of a JSON frame).
pub fn decode(text: &[u8]) -> Option<Stamp> {
    let rest = text.strip_prefix(b"b|")?;
    let (sender, rest) = number(rest, b'|')?;
    let (n, rest) = number(rest, b'|')?;
    let (tag, rest) = number(rest, b'|')?;
    let (nanos, _) = number(rest, b'|')?;
    Some(Stamp {
        sender,
        n,
        tag,
        nanos,
    })
}

/// Appends the chat cid of a send: `<sender>-<n>-<tag>-<nanos>`, so that the ack carries the
/// send time.
pub fn write_cid(out: &mut Vec<u8>, s: Stamp) {
    let _ = write!(out, "{}-{}-{}-{}", s.sender, s.n, s.tag, s.nanos);
}

/// Tag and send time from a cid made by [`write_cid`].
pub fn decode_cid(cid: &[u8]) -> Option<(u64, u64)> {
    let mut fields = cid.splitn(3, |&c| c == b'-');
    fields.next()?;
    fields.next()?;
    let rest = fields.next()?;
    let (tag, rest) = number(rest, b'-')?;
    let (nanos, rest) = number_to_end(rest)?;
    rest.is_empty().then_some((tag, nanos))
}

/// The decimal number `b` starts with, which `end` must follow, and the bytes after `end`.
fn number(b: &[u8], end: u8) -> Option<(u64, &[u8])> {
    let (v, rest) = number_to_end(b)?;
    match rest.split_first() {
        Some((&c, after)) if c == end => Some((v, after)),
        _ => None,
    }
}

/// The decimal number `b` starts with (at least one digit, no overflow), whatever follows.
pub fn number_prefix(b: &[u8]) -> Option<u64> {
    number_to_end(b).map(|(v, _)| v)
}

/// The decimal number `b` starts with (at least one digit, no overflow) and what follows it.
fn number_to_end(b: &[u8]) -> Option<(u64, &[u8])> {
    let digits = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    if digits == 0 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &b[..digits] {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some((v, &b[digits..]))
}

/// What one delivery was, relative to the sender's earlier ones on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The next expected counter.
    Next,
    /// Later than expected: some earlier ones are missing (lost, or coming late).
    Gap,
    /// An earlier counter that had not arrived yet: out of order.
    Late,
    /// Already received.
    Duplicate,
}

/// Per sender, per receiving connection: the next expected counter and which of the 64 before
/// it arrived (16 bytes, so a connection can track many senders).
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqTracker {
    next: u64,
    /// bit i set: counter `next - 1 - i` arrived.
    seen: u64,
}

impl SeqTracker {
    pub fn observe(&mut self, n: u64) -> Order {
        if n >= self.next {
            let shift = n - self.next + 1;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            let in_order = n == self.next;
            self.next = n + 1;
            return if in_order { Order::Next } else { Order::Gap };
        }
        let back = self.next - 1 - n;
        if back >= 64 {
            // Too far back to know; a duplicate that late is implausible.
            return Order::Late;
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            Order::Duplicate
        } else {
            self.seen |= bit;
            Order::Late
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Stamp {
            sender: 12,
            n: 345,
            tag: 1,
            nanos: 987_654_321,
        };
        let mut t = Vec::new();
        write_text(&mut t, s, 100);
        assert_eq!(t.len(), 100);
        assert_eq!(decode(&t), Some(s));
        assert_eq!(decode(b"b|12|345|1|987654321|\",\"ts\":1}"), Some(s));
        assert_eq!(decode(b"b|12|345|1|987654321\""), None);
        let mut c = Vec::new();
        write_cid(&mut c, s);
        assert_eq!(decode_cid(&c), Some((1, 987_654_321)));
        assert_eq!(decode_cid(b"1-2-3-4x"), None);
        assert_eq!(decode(b"hello"), None);
    }

    #[test]
    fn tracker() {
        let mut t = SeqTracker::default();
        assert_eq!(t.observe(0), Order::Next);
        assert_eq!(t.observe(1), Order::Next);
        assert_eq!(t.observe(3), Order::Gap);
        assert_eq!(t.observe(2), Order::Late);
        assert_eq!(t.observe(2), Order::Duplicate);
        assert_eq!(t.observe(3), Order::Duplicate);
        assert_eq!(t.observe(4), Order::Next);
        assert_eq!(t.observe(200), Order::Gap);
        assert_eq!(t.observe(150), Order::Late);
        assert_eq!(t.observe(150), Order::Duplicate);
    }
}
