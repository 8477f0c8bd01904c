//! The chat target's HTTP calls: guest and staff sign-in, and the console's calls of
//! `--console-load`, each over a plain HTTP/1.1 connection of its own (`Connection: close`),
//! which is all the benchmark needs.

use std::net::Ipv4Addr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::CHAT_SERVER_HINT;
use crate::target::Endpoint;

#[derive(serde::Deserialize)]
struct TokenReply {
    token: String,
}

/// Signs in a guest named `name` and returns its token.
pub async fn guest_token(
    ep: &Endpoint,
    source: Option<Ipv4Addr>,
    name: &str,
) -> Result<String, String> {
    let body = serde_json::json!({ "name": name }).to_string();
    token_from(ep, source, "/api/auth/guest", &body).await
}

/// Signs in an account with a password (`POST /api/auth/login`) and returns its token.
pub async fn login_token(ep: &Endpoint, username: &str, password: &str) -> Result<String, String> {
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    token_from(ep, None, "/api/auth/login", &body).await
}

async fn token_from(
    ep: &Endpoint,
    source: Option<Ipv4Addr>,
    route: &str,
    body: &str,
) -> Result<String, String> {
    let path = format!("{}{route}", ep.prefix);
    let (status, body) = request(ep, source, "POST", route, None, Some(body)).await?;
    match status {
        200 => serde_json::from_slice::<TokenReply>(&body)
            .map(|r| r.token)
            .map_err(|e| format!("POST {path}: reply without a token: {e}")),
        429 => Err(format!(
            "POST {path} got HTTP 429 (rate_limited): the server limits sign-in calls per \
             address; {CHAT_SERVER_HINT}"
        )),
        _ => Err(format!(
            "POST {path} got HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )),
    }
}

/// One HTTP/1.1 request on a connection of its own (`Connection: close`): the status and the
/// body. `route` is the path below `--url`'s prefix; `token`, if any, goes in `Authorization`;
/// `body`, if any, is sent as JSON.
pub async fn request(
    ep: &Endpoint,
    source: Option<Ipv4Addr>,
    method: &str,
    route: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, Vec<u8>), String> {
    let path = format!("{}{route}", ep.prefix);
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let content = body
        .map(|b| {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            )
        })
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}{content}Connection: close\r\n\r\n{}",
        ep.authority,
        body.unwrap_or("")
    );
    let mut stream = ep
        .tcp(source)
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut reply = Vec::with_capacity(1024);
    (&mut stream)
        .take(64 << 20)
        .read_to_end(&mut reply)
        .await
        .map_err(|e| format!("{method} {path}: reading the reply: {e}"))?;
    split_response(&reply).ok_or_else(|| {
        format!(
            "{method} {path}: not an HTTP reply: {:?}",
            String::from_utf8_lossy(&reply[..reply.len().min(200)])
        )
    })
}

/// Status code and body (de-chunked if needed) of a complete HTTP/1.1 response.
fn split_response(reply: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head_end = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&reply[..head_end]).ok()?;
    let body = &reply[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::split_response;

    #[test]
    fn plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(split_response(plain), Some((200, b"{}".to_vec())));
        let chunked =
            b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(split_response(chunked), Some((429, b"abcde".to_vec())));
    }
}
