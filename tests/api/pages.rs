//! The pages are served by the server itself, with headers that keep injected markup inert.

use crate::helpers::*;

#[actix_rt::test]
async fn the_pages_are_served_with_a_strict_content_security_policy() {
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let client = awc::Client::new();
    for (path, content_type, marker) in [
        ("/", "text/html", "/static/app.js"),
        ("/admin", "text/html", "/static/admin.js"),
        ("/static/app.js", "text/javascript", ""),
        ("/static/style.css", "text/css", ""),
        ("/static/admin.js", "text/javascript", ""),
        ("/static/admin.css", "text/css", ""),
    ] {
        let mut res = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(content_type), "{path}");
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        let body = res.body().limit(1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains(marker), "{path}");
    }
    let head = client.head(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    let (status, body) = app.get("/static/../Cargo.toml", None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get("/static/nothing.js", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}
