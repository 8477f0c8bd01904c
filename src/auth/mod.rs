//! Who is calling: tokens ([`jwt`]), password hashes ([`password`]), the sign-in budget per
//! client address ([`rate_limit`]), HMAC-SHA256 signatures ([`signature`]) and the store's API
//! keys ([`api_key`]). Nothing here
//! knows about HTTP handlers; the extractor that reads a request's token is `api::caller`.

pub mod api_key;
pub mod jwt;
pub mod password;
pub mod rate_limit;
pub mod signature;
