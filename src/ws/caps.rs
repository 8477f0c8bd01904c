//! Caps on open WebSockets per client address and per user, so that one address (or one stolen
//! token) cannot take every file descriptor and every slot of the chat server's tables.
//!
//! The upgrade (`api/socket.rs`) asks for a [`ConnectionSlot`] before it upgrades; the session
//! actor holds the slot as a field, so the slot is given back when the session is dropped,
//! however the socket ended: a close, a heartbeat timeout, a reset (the session's `Drop`
//! runs then too), a refused registration.

use crate::domain::UserId;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Which cap a new socket would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapExceeded {
    /// The client address has this many sockets open already.
    PerAddress(usize),
    /// The user has this many sockets open already.
    PerUser(usize),
}

impl CapExceeded {
    /// What the refused client is told.
    pub fn message(self) -> String {
        match self {
            CapExceeded::PerAddress(n) => {
                format!("too many connections from this address ({n} open); close one first")
            }
            CapExceeded::PerUser(n) => {
                format!("too many connections for this account ({n} open); close one first")
            }
        }
    }
}

/// Open sockets counted per client address and per user.
#[derive(Debug)]
pub struct ConnectionCaps {
    /// Most sockets from one address (0: no cap).
    per_address: usize,
    /// Most sockets of one user (0: no cap).
    per_user: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    addresses: HashMap<IpAddr, usize>,
    users: HashMap<UserId, usize>,
}

impl ConnectionCaps {
    /// At most `per_address` sockets from one address and `per_user` of one user; 0 is no cap.
    pub fn new(per_address: usize, per_user: usize) -> Arc<ConnectionCaps> {
        Arc::new(ConnectionCaps {
            per_address,
            per_user,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a socket of `user` from `address` (None: an address unknown, counted
    /// for the user only), or says which cap it would break. The slot is given back on drop.
    pub fn open(
        self: &Arc<Self>,
        address: Option<IpAddr>,
        user: UserId,
    ) -> Result<ConnectionSlot, CapExceeded> {
        let mut counts = self.lock();
        if let Some(address) = address {
            let open = counts.addresses.get(&address).copied().unwrap_or(0);
            if self.per_address > 0 && open >= self.per_address {
                return Err(CapExceeded::PerAddress(open));
            }
        }
        let open = counts.users.get(&user).copied().unwrap_or(0);
        if self.per_user > 0 && open >= self.per_user {
            return Err(CapExceeded::PerUser(open));
        }
        if let Some(address) = address {
            *counts.addresses.entry(address).or_default() += 1;
        }
        *counts.users.entry(user).or_default() += 1;
        Ok(ConnectionSlot {
            caps: Arc::clone(self),
            address,
            user,
        })
    }

    /// Sockets open from `address` now (unit tests).
    #[cfg(test)]
    pub fn open_from(&self, address: IpAddr) -> usize {
        self.lock().addresses.get(&address).copied().unwrap_or(0)
    }

    /// Sockets open of `user` now (unit tests).
    #[cfg(test)]
    pub fn open_of(&self, user: UserId) -> usize {
        self.lock().users.get(&user).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every change is one statement.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, address: Option<IpAddr>, user: UserId) {
        let mut counts = self.lock();
        if let Some(address) = address {
            decrement(&mut counts.addresses, address);
        }
        decrement(&mut counts.users, user);
    }
}

/// Counts down, forgetting the key at zero so that the maps hold only open sockets.
fn decrement<K: Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// One open socket's place in the counts; dropping it gives the place back.
#[derive(Debug)]
pub struct ConnectionSlot {
    caps: Arc<ConnectionCaps>,
    address: Option<IpAddr>,
    user: UserId,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.caps.release(self.address, self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_user_past_the_cap_is_refused_until_one_of_their_sockets_closes() {
        let caps = ConnectionCaps::new(0, 2);
        let ann = UserId(1);
        let first = caps.open(ip("10.0.0.1"), ann).unwrap();
        let _second = caps.open(ip("10.0.0.2"), ann).unwrap();
        assert_eq!(
            caps.open(ip("10.0.0.3"), ann).unwrap_err(),
            CapExceeded::PerUser(2)
        );
        assert!(
            caps.open(ip("10.0.0.3"), UserId(2)).is_ok(),
            "others get in"
        );
        drop(first);
        assert_eq!(caps.open_of(ann), 1);
        assert!(caps.open(ip("10.0.0.3"), ann).is_ok());
    }

    #[test]
    fn an_address_past_the_cap_is_refused_whoever_signs_in_from_it() {
        let caps = ConnectionCaps::new(2, 0);
        let slots: Vec<_> = (0..2)
            .map(|n| caps.open(ip("10.0.0.1"), UserId(n)).unwrap())
            .collect();
        assert_eq!(
            caps.open(ip("10.0.0.1"), UserId(9)).unwrap_err(),
            CapExceeded::PerAddress(2)
        );
        assert_eq!(caps.open_of(UserId(9)), 0, "a refusal takes nothing");
        assert!(caps.open(ip("10.0.0.2"), UserId(9)).is_ok());
        drop(slots);
        assert_eq!(caps.open_from("10.0.0.1".parse().unwrap()), 0);
        assert!(
            caps.lock().addresses.len() <= 1,
            "closed addresses are forgotten"
        );
    }

    #[test]
    fn zero_is_no_cap_and_an_unknown_address_counts_for_the_user_only() {
        let caps = ConnectionCaps::new(0, 0);
        let slots: Vec<_> = (0..500)
            .map(|_| caps.open(ip("10.0.0.1"), UserId(1)).unwrap())
            .collect();
        assert_eq!(caps.open_of(UserId(1)), 500);
        drop(slots);
        let capped = ConnectionCaps::new(1, 5);
        let _a = capped.open(None, UserId(1)).unwrap();
        let _b = capped.open(None, UserId(1)).unwrap();
        assert_eq!(capped.open_of(UserId(1)), 2);
    }
}
