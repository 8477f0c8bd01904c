//! Who is calling: tokens ([`jwt`]), password hashes ([`password`]) and the sign-in budget per
//! client address ([`rate_limit`]). Nothing here knows about HTTP handlers; the extractor that
//! reads a request's token is `api::caller`.

pub mod jwt;
pub mod password;
pub mod rate_limit;
