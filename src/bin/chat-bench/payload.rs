//! The message text: `b|<sender>|<n>|<tag>|<nanos>|` padded with `x` to the requested size.
//! `sender` is the global sender index, `n` its counter (from 0), `tag` the phase it was sent in
//! (0 = warm-up, then the measured window or the ramp step), `nanos` the send time since the
//! benchmark's start `Instant` (one process, so no clock sync is needed).

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u64,
    pub n: u64,
    pub tag: u64,
    pub nanos: u64,
}

pub fn encode(s: Stamp, size: usize) -> String {
    let mut text = String::with_capacity(size.max(48));
    // Writing to a String cannot fail.
    let _ = write!(text, "b|{}|{}|{}|{}|", s.sender, s.n, s.tag, s.nanos);
    while text.len() < size {
        text.push('x');
    }
    text
}

pub fn decode(text: &str) -> Option<Stamp> {
    let rest = text.strip_prefix("b|")?;
    let mut parts = rest.splitn(5, '|');
    let sender = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    let tag = parts.next()?.parse().ok()?;
    let nanos = parts.next()?.parse().ok()?;
    parts.next()?;
    Some(Stamp {
        sender,
        n,
        tag,
        nanos,
    })
}

/// The chat cid of a send: `<sender>-<n>-<tag>-<nanos>`, so that the ack carries the send time.
pub fn cid(s: Stamp) -> String {
    format!("{}-{}-{}-{}", s.sender, s.n, s.tag, s.nanos)
}

/// Tag and send time from a cid made by [`cid`].
pub fn decode_cid(cid: &str) -> Option<(u64, u64)> {
    let mut parts = cid.splitn(4, '-');
    parts.next()?;
    parts.next()?;
    let tag = parts.next()?.parse().ok()?;
    let nanos = parts.next()?.parse().ok()?;
    Some((tag, nanos))
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
        let t = encode(s, 100);
        assert_eq!(t.len(), 100);
        assert_eq!(decode(&t), Some(s));
        assert_eq!(decode_cid(&cid(s)), Some((1, 987_654_321)));
        assert_eq!(decode("hello"), None);
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
