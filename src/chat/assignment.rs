//! Auto-assignment (`--auto-assign`): a new conversation goes to the next staff member, round
//! robin by id, among those who may take it now (connected, and `online` by their own
//! availability: the chat server finds the connected ones, the database says which of them are
//! `online`). Nobody eligible: it stays unassigned.

use crate::domain::UserId;

/// Round robin over whoever is eligible at each turn: staff come and go, so the turn is kept
/// as the last id chosen, and the next is the first eligible id after it (wrapping around).
#[derive(Debug, Default)]
pub struct RoundRobin {
    last: Option<UserId>,
}

impl RoundRobin {
    /// The next assignee among `eligible` (any order), remembered as the last one chosen.
    pub fn pick(&mut self, eligible: &[UserId]) -> Option<UserId> {
        let lowest = eligible.iter().min_by_key(|u| u.0).copied()?;
        let next = match self.last {
            Some(last) => eligible
                .iter()
                .filter(|u| u.0 > last.0)
                .min_by_key(|u| u.0)
                .copied()
                .unwrap_or(lowest),
            None => lowest,
        };
        self.last = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[i64]) -> Vec<UserId> {
        list.iter().copied().map(UserId).collect()
    }

    #[test]
    fn turns_go_round_by_id_whatever_order_they_are_given_in() {
        let mut rr = RoundRobin::default();
        let picks: Vec<i64> = (0..5)
            .map(|_| rr.pick(&ids(&[7, 3, 5])).unwrap().0)
            .collect();
        assert_eq!(picks, [3, 5, 7, 3, 5]);
    }

    #[test]
    fn someone_leaving_or_arriving_keeps_the_turn() {
        let mut rr = RoundRobin::default();
        assert_eq!(rr.pick(&ids(&[2, 4, 6])), Some(UserId(2)));
        // 4 went busy: after 2 comes 6.
        assert_eq!(rr.pick(&ids(&[2, 6])), Some(UserId(6)));
        // 3 arrived: after 6, round to the lowest.
        assert_eq!(rr.pick(&ids(&[2, 3, 6])), Some(UserId(2)));
        assert_eq!(rr.pick(&ids(&[2, 3, 6])), Some(UserId(3)));
    }

    #[test]
    fn nobody_eligible_means_nobody_and_the_turn_stays() {
        let mut rr = RoundRobin::default();
        assert_eq!(rr.pick(&ids(&[1, 2])), Some(UserId(1)));
        assert_eq!(rr.pick(&[]), None);
        assert_eq!(rr.pick(&ids(&[1, 2])), Some(UserId(2)));
    }
}
