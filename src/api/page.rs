//! The paging of the history and notification lists (`?before=…&limit=…`), checked once for
//! every endpoint that pages: `GET /api/rooms/{room}/messages`,
//! `GET /api/server/conversations/{external_id}/messages` and `GET /api/notifications`.

use crate::error::AppError;
use serde::Deserialize;

/// Page size when the caller names none.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page.
pub const MAX_LIMIT: i64 = 100;

/// `?before=N&limit=N`, as sent: checked by [`PageQuery::parse`].
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

/// A checked page: what lies before `before` (a seq or an id; the newest when absent), at most
/// `limit` of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Only what is below this (1 or more).
    pub before: Option<i64>,
    /// 1 to [`MAX_LIMIT`].
    pub limit: i64,
}

impl PageQuery {
    /// The page asked for, or `bad_request`.
    pub fn parse(&self) -> Result<Page, AppError> {
        if self.before.is_some_and(|b| b < 1) {
            return Err(AppError::bad_request("before must be 1 or more"));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::bad_request(format!(
                "limit must be 1-{MAX_LIMIT}"
            )));
        }
        Ok(Page {
            before: self.before,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn page(before: Option<i64>, limit: Option<i64>) -> Result<Page, AppError> {
        PageQuery { before, limit }.parse()
    }

    #[test]
    fn a_page_is_the_newest_fifty_unless_asked_and_bounded() {
        assert_eq!(
            page(None, None).unwrap(),
            Page {
                before: None,
                limit: 50
            }
        );
        assert_eq!(
            page(Some(7), Some(100)).unwrap(),
            Page {
                before: Some(7),
                limit: 100
            }
        );
        assert_eq!(page(Some(1), Some(1)).unwrap().limit, 1);
        for (before, limit) in [
            (Some(0), None),
            (Some(-3), None),
            (None, Some(0)),
            (None, Some(101)),
            (None, Some(-1)),
        ] {
            let error = page(before, limit).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadRequest, "{before:?} {limit:?}");
        }
    }
}
