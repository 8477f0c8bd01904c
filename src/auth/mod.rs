//! Who is calling: tokens ([`jwt`]), password hashes ([`password`]), the sign-in budget per
//! client address ([`rate_limit`]) and HMAC-SHA256 signatures ([`signature`]). Nothing here
//! knows about HTTP handlers; the extractor that reads a request's token is `api::caller`.

pub mod jwt;
pub mod password;
pub mod rate_limit;
pub mod signature;
