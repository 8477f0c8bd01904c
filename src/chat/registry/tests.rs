//! The registry's unit tests: tabs, connecting, account reads and their tickets, the staff.

use super::*;

fn user(id: i64, role: Role) -> UserInfo {
    UserInfo {
        id: UserId(id),
        username: format!("u{id}"),
        role,
        display_name: None,
        avatar_color: None,
    }
}

fn lobby() -> RoomName {
    RoomName::parse("lobby").unwrap()
}

#[test]
fn a_user_with_two_tabs_is_online_once_until_the_last_tab_closes() {
    let mut registry = Registry::default();
    let first = registry.connect(user(7, Role::User), ());
    let second = registry.connect(user(7, Role::User), ());
    assert_ne!(first, second);
    assert_eq!(registry.connections(), 2);
    assert_eq!(registry.online_users(), 1);
    assert_eq!(registry.tabs(UserId(7)), &[first, second]);

    registry.remove(first);
    assert!(registry.is_online(UserId(7)));
    assert_eq!(registry.tabs(UserId(7)), &[second]);
    registry.remove(second);
    assert!(!registry.is_online(UserId(7)));
    assert_eq!(registry.connections(), 0);
    assert!(registry.tabs(UserId(7)).is_empty());
}

#[test]
fn a_connection_gone_while_it_was_connecting_is_never_registered() {
    let mut registry = Registry::default();
    let early = SessionId::next();
    registry.expect(early, UserId(5));
    registry.remove(early); // the socket closed while its account was read
    let read = (1, Account::Active(user(5, Role::Guest)));
    assert_eq!(registry.arrive(early, read), None);
    assert!(!registry.register(early, user(5, Role::Guest), 1, ()));
    assert_eq!(registry.connections(), 0);
    assert!(!registry.is_online(UserId(5)));

    let unexpected = SessionId::next();
    assert!(!registry.register(unexpected, user(6, Role::Guest), 1, ()));
    assert_eq!(registry.online_users(), 0);
}

#[test]
fn a_ban_read_while_a_connection_connects_wins_over_the_older_read_of_its_connect() {
    let mut registry: Registry<()> = Registry::default();
    let troll = user(8, Role::User);
    let session = SessionId::next();
    registry.expect(session, troll.id);
    // Its Connect read the account (ticket 1) before the ban; the read the ban asked for
    // (ticket 2) answers first.
    assert!(registry
        .note_account(troll.id, 2, &Account::Banned)
        .is_empty());
    let connect_read = (1, Account::Active(troll.clone()));
    assert_eq!(
        registry.arrive(session, connect_read),
        Some((2, Account::Banned))
    );
    // An older read answering even later changes nothing.
    registry.note_account(troll.id, 1, &Account::Active(troll.clone()));
    let connect_read = (1, Account::Active(troll.clone()));
    assert_eq!(
        registry.arrive(session, connect_read),
        Some((2, Account::Banned))
    );
    // A read newer than the noted one wins.
    let late = (3, Account::Active(troll.clone()));
    assert_eq!(registry.arrive(session, late.clone()), Some(late));
}

#[test]
fn connections_still_connecting_are_indexed_by_user_until_they_register_or_go() {
    let mut registry: Registry<()> = Registry::default();
    let (a, b, c) = (SessionId::next(), SessionId::next(), SessionId::next());
    registry.expect(a, UserId(5));
    registry.expect(b, UserId(5));
    registry.expect(c, UserId(6));
    assert_eq!(registry.connecting_by_user[&UserId(5)], vec![a, b]);
    assert_eq!(registry.connecting_by_user[&UserId(6)], vec![c]);
    // A read of user 5 reaches both of its connections, and not user 6's.
    assert!(registry
        .note_account(UserId(5), 2, &Account::Banned)
        .is_empty());
    let connect_read = |id| (1, Account::Active(user(id, Role::User)));
    assert_eq!(
        registry.arrive(a, connect_read(5)),
        Some((2, Account::Banned))
    );
    assert_eq!(
        registry.arrive(b, connect_read(5)),
        Some((2, Account::Banned))
    );
    assert_eq!(registry.arrive(c, connect_read(6)), Some(connect_read(6)));

    // One registers, the other goes while connecting: nothing of user 5 is left connecting.
    assert!(registry.register(a, user(5, Role::User), 2, ()));
    registry.remove(b);
    assert!(!registry.connecting_by_user.contains_key(&UserId(5)));
    assert_eq!(registry.connecting_by_user[&UserId(6)], vec![c]);
    let mut users = registry.known_users();
    users.sort();
    assert_eq!(users, vec![UserId(5), UserId(6)]);

    registry.remove(c);
    assert!(registry.connecting_by_user.is_empty());
    assert!(registry.connecting.is_empty());
    assert_eq!(registry.known_users(), vec![UserId(5)]);
    // Expected and gone again before anything else: no trace either.
    registry.expect(b, UserId(7));
    registry.drain().for_each(drop);
    assert!(registry.connecting_by_user.is_empty() && registry.connecting.is_empty());
}

#[test]
fn a_newer_read_is_news_to_registered_connections_once() {
    let mut registry = Registry::default();
    let carol = user(9, Role::User);
    let tab = registry.connect(carol.clone(), ());
    let other = registry.connect(user(10, Role::User), ());
    let promoted = Account::Active(user(9, Role::Admin));
    assert_eq!(registry.note_account(carol.id, 4, &promoted), vec![tab]);
    assert!(registry.note_account(carol.id, 4, &promoted).is_empty());
    assert!(
        registry.note_account(carol.id, 3, &promoted).is_empty(),
        "older"
    );
    let mut users = registry.known_users();
    users.sort();
    assert_eq!(users, vec![carol.id, UserId(10)]);
    assert_eq!(registry.get(other).unwrap().ticket, 0);
}

#[test]
fn a_role_change_moves_a_connection_in_or_out_of_the_staff_and_names_the_barred_rooms() {
    let mut registry = Registry::default();
    let carol = user(9, Role::User);
    let tab = registry.connect(carol.clone(), ());
    assert!(registry.set_user(tab, user(9, Role::Admin)).is_empty());
    assert_eq!(registry.staff().collect::<Vec<_>>(), vec![tab]);
    let support = RoomName::parse("support:12").unwrap();
    registry.enter(tab, &support);
    registry.enter(tab, &lobby());
    assert_eq!(registry.set_user(tab, carol.clone()), vec![support]);
    assert!(!registry.has_staff());
    assert_eq!(registry.user(tab), Some(&carol));
}

#[test]
fn connections_are_counted_by_the_role_of_their_user() {
    let mut registry = Registry::default();
    registry.connect(user(1, Role::Guest), ());
    registry.connect(user(2, Role::User), ());
    registry.connect(user(2, Role::User), ());
    let staff = registry.connect(user(3, Role::Admin), ());
    registry.connect(user(4, Role::Agent), ());
    assert_eq!(registry.connections_by_role(), (1, 2, 1, 1));
    registry.remove(staff);
    assert_eq!(registry.connections_by_role(), (1, 2, 1, 0));
}

#[test]
fn only_admin_and_agent_connections_count_as_staff() {
    let mut registry = Registry::default();
    registry.connect(user(1, Role::Guest), ());
    registry.connect(user(4, Role::User), ());
    let staff = registry.connect(user(2, Role::Admin), ());
    let agent = registry.connect(user(3, Role::Agent), ());
    let mut found = registry.staff().collect::<Vec<_>>();
    found.sort_by_key(|s| s.0);
    assert_eq!(found, vec![staff, agent]);
    registry.remove(staff);
    registry.remove(agent);
    assert!(!registry.has_staff());
}

#[test]
fn entering_twice_is_noticed_and_leaving_returns_the_user_once() {
    let mut registry = Registry::default();
    let s = registry.connect(user(3, Role::User), ());
    assert_eq!(registry.enter(s, &lobby()), Some(false));
    assert_eq!(registry.enter(s, &lobby()), Some(true));
    assert!(registry.is_in(s, &lobby()));
    assert_eq!(registry.leave(s, &lobby()).map(|u| u.id), Some(UserId(3)));
    assert_eq!(registry.leave(s, &lobby()), None);
    assert!(!registry.is_in(s, &lobby()));
    assert_eq!(registry.enter(SessionId(99), &lobby()), None);
}

#[test]
fn a_removed_connection_hands_back_its_rooms() {
    let mut registry = Registry::default();
    let s = registry.connect(user(3, Role::User), ());
    registry.enter(s, &lobby());
    let entry = registry.remove(s).unwrap();
    assert_eq!(entry.rooms, vec![lobby()]);
    assert!(registry.remove(s).is_none(), "removing is idempotent");
}

#[test]
fn staff_online_counts_staff_members_not_their_tabs() {
    let mut registry: Registry<()> = Registry::default();
    assert_eq!(registry.staff_online(), 0);
    registry.connect(user(1, Role::Guest), ());
    let first = registry.connect(user(2, Role::Admin), ());
    registry.connect(user(2, Role::Admin), ());
    registry.connect(user(3, Role::Admin), ());
    assert_eq!(registry.staff_online(), 2);
    registry.remove(first);
    assert_eq!(registry.staff_online(), 2, "a second tab keeps them online");
}

#[test]
fn staff_online_counts_only_members_online_and_connected_and_the_staff_hear_of_changes() {
    let mut registry: Registry<()> = Registry::default();
    let busy = StaffState {
        availability: Availability::Busy,
        active: true,
    };
    let bob = user(2, Role::Agent);
    // Noted while connecting (the read of its Connect): no news before it registers.
    let tab = SessionId::next();
    registry.expect(tab, bob.id);
    registry.note_staff(bob.id, 1, Some(busy));
    assert!(registry.take_staff_news().is_empty());
    assert!(registry.register(tab, bob.clone(), 1, ()));
    assert_eq!(registry.staff_online(), 0, "busy");
    assert_eq!(registry.connected_staff(), vec![bob.id]);
    assert!(
        registry.take_staff_news().is_empty(),
        "a first connection is no news (staff_updated is for the team API's changes)"
    );

    registry.note_staff(bob.id, 2, Some(StaffState::default()));
    assert_eq!(registry.staff_online(), 1, "back online");
    assert_eq!(registry.staff_available(), vec![bob.id]);
    assert_eq!(
        registry.take_staff_news()[0].availability,
        Availability::Online
    );
    registry.note_staff(bob.id, 1, Some(busy));
    assert_eq!(registry.staff_online(), 1, "an older read changes nothing");
    assert!(registry.take_staff_news().is_empty());

    // Not connected: nothing is kept, nobody counted.
    registry.note_staff(UserId(3), 3, Some(StaffState::default()));
    assert_eq!(registry.staff_online(), 1);

    let second = registry.connect(bob.clone(), ());
    assert!(registry.take_staff_news().is_empty(), "not the first tab");
    registry.remove(second);
    assert!(registry.take_staff_news().is_empty(), "not the last tab");
    registry.note_staff(
        bob.id,
        4,
        Some(StaffState {
            availability: Availability::Online,
            active: false,
        }),
    );
    let news = registry.take_staff_news();
    assert_eq!(news.len(), 1, "deactivated");
    assert!(news[0].online && !news[0].active);
    registry.remove(tab);
    assert!(
        registry.take_staff_news().is_empty(),
        "a last connection closed is no news"
    );
    assert_eq!(registry.staff_online(), 0);
    assert_eq!(
        registry.desk.state(bob.id),
        StaffState::default(),
        "forgotten"
    );
}
