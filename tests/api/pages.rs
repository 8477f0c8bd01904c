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

/// The `src` of every `<script type="module">` of a page.
fn module_scripts(html: &str) -> Vec<String> {
    html.split("<script")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            if !tag.contains("type=\"module\"") {
                return None;
            }
            let src = &tag[tag.find("src=\"")? + 5..];
            Some(src[..src.find('"')?].to_owned())
        })
        .collect()
}

/// What a module's `import … from '…'`, `export … from '…'` and `import '…'` lines name.
fn imports(module: &str) -> Vec<String> {
    module
        .lines()
        .map(str::trim)
        .filter(|line| {
            line.starts_with("import ") || line.starts_with("export ") || line.starts_with("} from")
        })
        .filter_map(|line| {
            let spec = match line.find(" from ") {
                Some(at) => &line[at + 6..],
                None => line.strip_prefix("import ")?,
            };
            let quote = spec.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let spec = &spec[1..];
            Some(spec[..spec.find(quote)?].to_owned())
        })
        .collect()
}

/// `spec` as the browser resolves it against the module at `base` (both absolute paths).
fn resolve(base: &str, spec: &str) -> String {
    if spec.starts_with('/') {
        return spec.to_owned();
    }
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    for part in spec.split('/') {
        match part {
            "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[actix_rt::test]
async fn every_module_the_pages_import_is_served_as_javascript() {
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let client = awc::Client::new();
    let fetch = |path: String| {
        let request = client.get(format!("{}{path}", app.base));
        async move {
            let mut res = request.send().await.unwrap();
            let content_type = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = res.body().limit(1 << 20).await.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            (res.status().as_u16(), content_type, body)
        }
    };

    // Follow the imports from each page's module scripts, as a browser does.
    let mut todo = Vec::new();
    for page in ["/", "/admin", "/widget"] {
        let (status, _, html) = fetch(page.to_owned()).await;
        assert_eq!(status, 200, "{page}");
        let scripts = module_scripts(&html);
        assert!(!scripts.is_empty(), "{page} loads its script as a module");
        assert!(
            !html.contains("<script>") && !html.contains("<script src"),
            "{page}: every script is a module"
        );
        todo.extend(scripts);
    }
    let mut served = std::collections::BTreeSet::new();
    while let Some(path) = todo.pop() {
        if served.contains(&path) {
            continue;
        }
        let (status, content_type, body) = fetch(path.clone()).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            content_type.starts_with("text/javascript"),
            "{path}: {content_type}"
        );
        todo.extend(imports(&body).iter().map(|spec| resolve(&path, spec)));
        served.insert(path);
    }
    assert!(
        served.iter().any(|path| path.starts_with("/static/lib/")),
        "the pages share modules: {served:?}"
    );

    // Only the listed files are served: a path that merely looks like one is not.
    for path in [
        "/static/lib/nothing.js",
        "/static/lib/",
        "/static/lib",
        "/static/lib/../app.js",
        "/static//app.js",
        "/static/src/main.rs",
    ] {
        let (status, body) = app.get(path, None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
}
