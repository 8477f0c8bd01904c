//! Round trips of the wire frames: each frame's JSON as docs/protocol.md gives it.

use super::*;
use crate::domain::{Role, UserId};
use serde_json::json;

fn user(id: i64, username: &str, role: Role) -> UserInfo {
    UserInfo {
        id: UserId(id),
        username: username.into(),
        role,
        display_name: None,
        avatar_color: None,
    }
}

#[test]
fn client_frames_parse_from_the_documented_json() {
    let cases = [
        (
            json!({"type":"join","room":"lobby"}),
            ClientFrame::Join {
                room: "lobby".into(),
                since: None,
            },
        ),
        (
            json!({"type":"join","room":"lobby","since":7}),
            ClientFrame::Join {
                room: "lobby".into(),
                since: Some(7),
            },
        ),
        (
            json!({"type":"leave","room":"lobby"}),
            ClientFrame::Leave {
                room: "lobby".into(),
            },
        ),
        (
            json!({"type":"send","room":"lobby","text":"hi","cid":"c1"}),
            ClientFrame::Send {
                room: "lobby".into(),
                text: "hi".into(),
                cid: "c1".into(),
                note: false,
            },
        ),
        (
            json!({"type":"send","room":"support:5","text":"vip","cid":"c2","note":true}),
            ClientFrame::Send {
                room: "support:5".into(),
                text: "vip".into(),
                cid: "c2".into(),
                note: true,
            },
        ),
        (
            json!({"type":"typing","room":"lobby","on":true}),
            ClientFrame::Typing {
                room: "lobby".into(),
                on: true,
            },
        ),
        (
            json!({"type":"history","room":"lobby","before":10,"limit":20}),
            ClientFrame::History {
                room: "lobby".into(),
                before: Some(10),
                limit: Some(20),
            },
        ),
        (
            json!({"type":"read","room":"lobby","seq":3}),
            ClientFrame::Read {
                room: "lobby".into(),
                seq: 3,
            },
        ),
        (
            json!({"type":"notification_read","id":12}),
            ClientFrame::NotificationRead { id: 12 },
        ),
    ];
    for (value, frame) in cases {
        assert_eq!(
            serde_json::from_value::<ClientFrame>(value.clone()).unwrap(),
            frame
        );
        assert_eq!(serde_json::to_value(&frame).unwrap(), value);
    }
}

#[test]
fn unknown_types_and_missing_fields_do_not_parse() {
    for bad in [
        json!({"type":"shout","room":"lobby"}),
        json!({"type":"send","room":"lobby","text":"hi"}),
        json!({"room":"lobby"}),
        json!({"type":"typing","room":"lobby","on":"yes"}),
    ] {
        assert!(
            serde_json::from_value::<ClientFrame>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn server_frames_round_trip_with_the_documented_names() {
    let ann = user(1, "ann", Role::Guest);
    let message = WireMessage {
        room: "lobby".into(),
        seq: 4,
        id: 99,
        from: ann.clone(),
        text: "<b>hi</b>".into(),
        ts: 1_700_000_000_000,
        cid: Some("c1".into()),
        kind: Default::default(),
    };
    let frame = ServerFrame::Message(message.clone());
    let value: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap();
    assert_eq!(
        value,
        json!({"type":"message","room":"lobby","seq":4,"id":99,
               "from":{"id":1,"username":"ann","role":"guest"},
               "text":"<b>hi</b>","ts":1_700_000_000_000i64,"cid":"c1"})
    );
    let crowded = ServerFrame::Online {
        room: "lobby".into(),
        online: vec![],
        online_count: 501,
    };
    let value: serde_json::Value = serde_json::from_str(&crowded.encode()).unwrap();
    assert_eq!(
        value,
        json!({"type":"online","room":"lobby","online":[],"online_count":501})
    );
    let frames = [
        frame,
        ServerFrame::Ack {
            cid: "c1".into(),
            room: "lobby".into(),
            seq: 4,
        },
        ServerFrame::Joined {
            room: "lobby".into(),
            online: vec![ann.clone()],
            online_count: 1,
            messages: vec![message],
            last_seq: 4,
            recovered: Some(true),
            deleted: Some(vec![2]),
            seen_seq: None,
        },
        ServerFrame::Presence {
            room: "lobby".into(),
            user: ann.clone(),
            online: false,
        },
        ServerFrame::Online {
            room: "lobby".into(),
            online: vec![],
            online_count: 501,
        },
        ServerFrame::Typing {
            room: "lobby".into(),
            user: ann.clone(),
            on: true,
        },
        ServerFrame::Unread {
            room: "lobby".into(),
            count: 2,
        },
        ServerFrame::error(
            ErrorCode::RateLimited,
            "slow down",
            Some("c2".into()),
            Some("lobby".into()),
        ),
        ServerFrame::Hello {
            user: ann,
            rooms: vec![RoomEntry {
                room: "support:1".into(),
                last_seq: 0,
                unread: 0,
            }],
            limits: Limits {
                max_message_chars: 4000,
                max_frame_bytes: 16384,
                history_page_max: 100,
                history_page_default: 50,
                rate_per_sec: 20.0,
                rate_burst: 40.0,
            },
            notifications_unread: 3,
        },
        ServerFrame::NotificationsUnread { count: 2 },
        ServerFrame::ConversationMoved {
            from: "support:2".into(),
            into: "support:3".into(),
        },
    ];
    for frame in frames {
        let back: ServerFrame = serde_json::from_str(&frame.encode()).unwrap();
        assert_eq!(back, frame);
    }
}

#[test]
fn an_error_frame_of_every_code_reads_back() {
    for code in ErrorCode::ALL {
        let frame = ServerFrame::error(code, "why", Some("c1".into()), None);
        let back: ServerFrame = serde_json::from_str(&frame.encode())
            .unwrap_or_else(|e| panic!("{code:?} does not read back: {e}"));
        assert_eq!(back, frame);
    }
}

#[test]
fn notification_frames_have_the_names_of_the_issue() {
    let shipped = ServerFrame::Notification(NotificationFrame {
        id: 5,
        title: "Shipped".into(),
        body: "On its way".into(),
        link: None,
        ts: 1_700_000_000_000,
    });
    let value: serde_json::Value = serde_json::from_str(&shipped.encode()).unwrap();
    assert_eq!(
        value,
        json!({"type":"notification","id":5,"title":"Shipped","body":"On its way",
               "link":null,"ts":1_700_000_000_000i64})
    );
    let back: ServerFrame = serde_json::from_str(&shipped.encode()).unwrap();
    assert_eq!(back, shipped);
    let unread = ServerFrame::NotificationsUnread { count: 0 };
    let value: serde_json::Value = serde_json::from_str(&unread.encode()).unwrap();
    assert_eq!(value, json!({"type":"notifications_unread","count":0}));
}

#[test]
fn a_moved_conversation_names_both_rooms() {
    let moved = ServerFrame::ConversationMoved {
        from: "support:2".into(),
        into: "support:3".into(),
    };
    let value: serde_json::Value = serde_json::from_str(&moved.encode()).unwrap();
    assert_eq!(
        value,
        json!({"type":"conversation_moved","from":"support:2","into":"support:3"})
    );
}

#[test]
fn a_staff_update_names_the_member_as_the_team_api_does() {
    let member = StaffMember {
        id: UserId(7),
        username: "bob".into(),
        role: Role::Agent,
        active: true,
        availability: Availability::Busy,
        online: false,
        display_name: None,
        avatar_color: None,
    };
    let frame = ServerFrame::StaffUpdated { member };
    let value: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap();
    assert_eq!(
        value,
        json!({"type":"staff_updated","member":{"id":7,"username":"bob","role":"agent",
               "active":true,"availability":"busy","online":false}})
    );
    assert_eq!(serde_json::from_value::<ServerFrame>(value).unwrap(), frame);
}

#[test]
fn a_staff_update_carries_the_members_profile_when_set() {
    let member = StaffMember {
        id: UserId(7),
        username: "maya".into(),
        role: Role::Agent,
        active: true,
        availability: Availability::Online,
        online: true,
        display_name: Some("Maya from Support".into()),
        avatar_color: Some("#1f6feb".into()),
    };
    let frame = ServerFrame::StaffUpdated { member };
    let value: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap();
    assert_eq!(value["member"]["display_name"], "Maya from Support");
    assert_eq!(value["member"]["avatar_color"], "#1f6feb");
    assert_eq!(serde_json::from_value::<ServerFrame>(value).unwrap(), frame);
}

#[test]
fn a_note_says_note_true_and_an_event_only_its_kind() {
    let note = WireMessage {
        room: "notes:5".into(),
        seq: 1,
        id: 40,
        from: user(2, "bob", Role::Agent),
        text: "VIP customer".into(),
        ts: 1_700_000_000_000,
        cid: None,
        kind: MessageKind::Note,
    };
    let frame = ServerFrame::Message(note.clone());
    let value: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap();
    assert_eq!(
        value,
        json!({"type":"message","room":"notes:5","seq":1,"id":40,
               "from":{"id":2,"username":"bob","role":"agent"},
               "text":"VIP customer","ts":1_700_000_000_000i64,
               "kind":"note","note":true})
    );
    let back: ServerFrame = serde_json::from_str(&frame.encode()).unwrap();
    assert_eq!(back, frame);
    let event = WireMessage {
        kind: MessageKind::Event,
        ..note
    };
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(value["kind"], "event");
    assert!(value.get("note").is_none(), "{value}");
    let activity = ServerFrame::SupportActivity {
        room: "support:5".into(),
        customer: None,
        message: event,
    };
    let back: ServerFrame = serde_json::from_str(&activity.encode()).unwrap();
    assert_eq!(back, activity);
}

#[test]
fn seen_frames_and_joined_seen_seq_have_the_names_of_the_issue() {
    let seen = ServerFrame::Seen {
        room: "support:5".into(),
        seq: 7,
        by: SeenBy::Staff,
    };
    let value: serde_json::Value = serde_json::from_str(&seen.encode()).unwrap();
    assert_eq!(
        value,
        json!({"type":"seen","room":"support:5","seq":7,"by":"staff"})
    );
    let back: ServerFrame = serde_json::from_str(&seen.encode()).unwrap();
    assert_eq!(back, seen);
    let by_customer = json!({"type":"seen","room":"support:5","seq":3,"by":"customer"});
    let back: ServerFrame = serde_json::from_value(by_customer).unwrap();
    assert!(matches!(
        back,
        ServerFrame::Seen {
            by: SeenBy::Customer,
            seq: 3,
            ..
        }
    ));
    let joined = ServerFrame::Joined {
        room: "support:5".into(),
        online: vec![],
        online_count: 0,
        messages: vec![],
        last_seq: 9,
        recovered: None,
        deleted: None,
        seen_seq: Some(4),
    };
    let value: serde_json::Value = serde_json::from_str(&joined.encode()).unwrap();
    assert_eq!(value["seen_seq"], 4);
    let back: ServerFrame = serde_json::from_str(&joined.encode()).unwrap();
    assert_eq!(back, joined);
}
