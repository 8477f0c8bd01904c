//! The model's clients and their sessions, step by step as `ws/session.rs` does it: connect,
//! the frames a page sends (through the real decoder), and what a page is shown.

use super::*;

impl Model {
    pub(super) fn connect(&mut self, c: usize) {
        if self.clients[c].session.is_some() {
            return;
        }
        // `Handler<Connect>`: expected, then registered (the account read is left out).
        let session = SessionId::next();
        let user = self.clients[c].user.clone();
        self.chat.registry.expect(session, user.id);
        assert!(self.chat.registry.register(session, user, 0, ()));
        let client = &mut self.clients[c];
        client.session = Some(session);
        client.joining = JoiningRooms::new(10_000);
        self.trace
            .push(format!("client {c} connects as session {}", session.0));
        // The page's `hello`: every room of its list again.
        let rooms: Vec<usize> = client.pages.keys().copied().collect();
        for r in rooms {
            self.client_join(c, r);
        }
    }

    /// A frame through the real decoder, as `WsSession::check_and_forward` does.
    pub(super) fn decode(&self, c: usize, frame: serde_json::Value) -> Option<Request> {
        let session = self.clients[c].session?;
        let text = frame.to_string();
        decode::check_size(&text, 16 * 1024).unwrap();
        let frame = decode::parse_frame(&text).unwrap();
        Some(decode::to_request(frame, session, 4000).unwrap())
    }

    pub(super) fn client_join(&mut self, c: usize, r: usize) {
        let page = &self.clients[c].pages[&r];
        let since = page.loaded.then_some(page.seen);
        let mut frame = serde_json::json!({"type": "join", "room": self.names[r].as_str()});
        if let Some(since) = since {
            frame["since"] = since.into();
        }
        let Some(Request::Join(join)) = self.decode(c, frame) else {
            return;
        };
        self.trace
            .push(format!("client {c} joins room {r} since {since:?}"));
        let client = &mut self.clients[c];
        client.asked.entry(r).or_default().push_back(since);
        client.joining.start(&join.room);
        self.join(join);
    }

    pub(super) fn client_leave(&mut self, c: usize, r: usize) {
        let frame = serde_json::json!({"type": "leave", "room": self.names[r].as_str()});
        let Some(Request::Leave(leave)) = self.decode(c, frame) else {
            return;
        };
        self.trace.push(format!("client {c} leaves room {r}"));
        self.clients[c].pages.remove(&r);
        self.leave(leave);
    }

    pub(super) fn client_send(&mut self, c: usize, r: usize, cid: &str) {
        let frame = serde_json::json!({
            "type": "send", "room": self.names[r].as_str(), "text": format!("text of {cid}"), "cid": cid,
        });
        let Some(Request::Publish(publish)) = self.decode(c, frame) else {
            return;
        };
        self.trace
            .push(format!("client {c} sends {cid} to room {r}"));
        self.publish(publish);
    }

    pub(super) fn disconnect(&mut self, c: usize) {
        let Some(session) = self.clients[c].session.take() else {
            return;
        };
        self.trace.push(format!("client {c} disconnects"));
        let client = &mut self.clients[c];
        client.asked.clear();
        for page in client.pages.values_mut() {
            page.shown = None;
        }
        // `Handler<Disconnect>` → `ChatServer::remove_session`.
        self.chat.joins.forget_session(session);
        if let Some(entry) = self.chat.registry.remove(session) {
            for room in &entry.rooms {
                self.chat.rooms.leave(room, session, entry.user.id);
            }
        }
    }

    /// `WsSession::on_deliver`: what the session writes, in order, to its page.
    pub(super) fn session_receives(&mut self, c: usize, item: Outgoing) {
        let mut written = Vec::new();
        let joining = &mut self.clients[c].joining;
        match item {
            Outgoing::Frames(frames) => {
                for frame in frames {
                    match joining.arrive(frame) {
                        Arrival::Write(text) => written.push(text),
                        Arrival::Held | Arrival::Dropped => {}
                        Arrival::Overflow => panic!("10,000 frames held for one room"),
                    }
                }
            }
            Outgoing::Joined(joined) => {
                let room = joined.room.clone();
                let last_seq = joined.last_seq();
                written.push(joined.encode());
                written.extend(joining.joined(&room, last_seq));
            }
            Outgoing::JoinFailed {
                room,
                text,
                still_in_room,
            } => {
                written.push(text);
                written.extend(joining.failed(&room, still_in_room));
            }
            Outgoing::Close { .. } => panic!("nobody is closed in this model"),
        }
        for text in written {
            let frame: ServerFrame = serde_json::from_str(&text).expect("a server frame");
            self.page_reads(c, frame);
        }
    }

    /// The page reads a frame: here the property is checked.
    pub(super) fn page_reads(&mut self, c: usize, frame: ServerFrame) {
        let user = self.clients[c].user.id.0;
        match frame {
            ServerFrame::Joined {
                room,
                messages,
                last_seq,
                recovered,
                ..
            } => {
                let r = self.room_index(&room);
                let asked = self.clients[c].asked.entry(r).or_default();
                let since = asked.pop_front().expect("a joined answers a join");
                if !self.clients[c].pages.contains_key(&r) {
                    return; // left meanwhile
                }
                let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
                self.trace.push(format!(
                    "client {c} is shown joined room {r} since {since:?}: {seqs:?}, last_seq {last_seq}"
                ));
                let first = match since {
                    Some(since) => since + 1,
                    None => seqs.first().copied().unwrap_or(last_seq + 1),
                };
                let expected: Vec<i64> = (first..first + seqs.len() as i64).collect();
                assert_eq!(
                    seqs,
                    expected,
                    "client {c}: joined {room}\n{}",
                    self.trace()
                );
                if recovered == Some(false) {
                    assert_eq!(seqs.len() as i64, self.recovery_cap, "a recovery cut short");
                } else {
                    assert_eq!(
                        seqs.last().copied().unwrap_or(first - 1),
                        last_seq,
                        "client {c}: joined {room} ends at its last_seq\n{}",
                        self.trace()
                    );
                }
                let page = self.clients[c].pages.get_mut(&r).unwrap();
                page.shown = Some(last_seq);
                page.loaded = true;
                page.seen = last_seq;
                for m in &messages {
                    self.saw(m);
                }
            }
            ServerFrame::Message(m) => {
                let r = self.room_index(&m.room);
                let Some(page) = self.clients[c].pages.get_mut(&r) else {
                    return; // left meanwhile
                };
                let shown = page.shown;
                self.trace
                    .push(format!("client {c} is shown message {} of room {r}", m.seq));
                let Some(shown) = shown else {
                    panic!(
                        "client {c}: message {} of {} before its joined\n{}",
                        m.seq,
                        m.room,
                        self.trace()
                    );
                };
                assert_eq!(
                    m.seq,
                    shown + 1,
                    "client {c}: after {shown} of {} comes {}\n{}",
                    m.room,
                    m.seq,
                    self.trace()
                );
                let page = self.clients[c].pages.get_mut(&r).unwrap();
                page.shown = Some(m.seq);
                page.seen = m.seq;
                self.saw(&m);
            }
            ServerFrame::Ack { cid, room, seq } => {
                self.trace
                    .push(format!("client {c} is shown ack {cid} = {seq} in {room}"));
                let earlier = *self
                    .acked
                    .entry((user, room.clone(), cid.clone()))
                    .or_insert(seq);
                assert_eq!(
                    earlier,
                    seq,
                    "{cid} acked as {earlier} and {seq}\n{}",
                    self.trace()
                );
            }
            ServerFrame::Error { cid, message, .. } => {
                assert!(cid.is_some(), "client {c}: unexpected error {message}");
            }
            _ => {}
        }
    }

    pub(super) fn saw(&mut self, m: &WireMessage) {
        let id = *self.shown.entry((m.room.clone(), m.seq)).or_insert(m.id);
        assert_eq!(id, m.id, "seq {} of {} is two messages", m.seq, m.room);
    }

    pub(super) fn room_index(&self, room: &str) -> usize {
        self.names.iter().position(|n| n.as_str() == room).unwrap()
    }

    pub(super) fn client_of(&self, session: SessionId) -> Option<usize> {
        self.clients.iter().position(|c| c.session == Some(session))
    }

    pub(super) fn trace(&self) -> String {
        self.trace.join("\n")
    }
}
