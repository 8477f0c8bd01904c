//! The log on standard error, in the format the operator chose (`--log-format`): env_logger's
//! text lines for people, or one JSON object per line for log shippers:
//!
//! ```json
//! {"ts":"2026-12-06T13:09:43.512Z","level":"INFO","target":"http","message":"10.0.0.7 \"GET /ws\" 101 - 0.412ms","fields":{"client":"10.0.0.7","method":"GET","path":"/ws","status":101,"bytes":null,"ms":0.412}}
//! ```
//!
//! `fields` holds the record's key-value pairs (the access log's parts; empty for most records).
//! The level filter is `RUST_LOG` in both formats (default `info`). Called once, by `main`.

use crate::config::LogFormat;
use log::kv::{Key, Value, VisitSource};
use serde_json::{Map, Value as Json};
use std::io::Write;
use std::time::SystemTime;

/// Installs the logger; `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| writeln!(buf, "{}", json_line(SystemTime::now(), record)));
        // A panic's message would be the one line a shipper cannot parse: log it instead.
        std::panic::set_hook(Box::new(|info| log::error!(target: "panic", "{info}")));
    }
    builder.init();
}

/// One record as one line of JSON (no newline): `ts` (RFC 3339, UTC, milliseconds), `level`,
/// `target`, `message` and `fields`.
pub fn json_line(ts: SystemTime, record: &log::Record<'_>) -> String {
    let mut fields = Fields(Map::new());
    // A field that cannot be visited is left out; the message still says everything.
    let _ = record.key_values().visit(&mut fields);
    let line = serde_json::json!({
        "ts": humantime::format_rfc3339_millis(ts).to_string(),
        "level": record.level().as_str(),
        "target": record.target(),
        "message": record.args().to_string(),
        "fields": Json::Object(fields.0),
    });
    line.to_string()
}

/// Collects a record's key-value pairs as JSON values, typed where the value says its type.
struct Fields(Map<String, Json>);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        self.0.insert(key.as_str().to_owned(), to_json(&value));
        Ok(())
    }
}

fn to_json(value: &Value<'_>) -> Json {
    if let Some(text) = value.to_borrowed_str() {
        return Json::from(text);
    }
    if let Some(b) = value.to_bool() {
        return Json::from(b);
    }
    if let Some(n) = value.to_u64() {
        return Json::from(n);
    }
    if let Some(n) = value.to_i64() {
        return Json::from(n);
    }
    if let Some(x) = value.to_f64() {
        return Json::from(x);
    }
    match value.to_string() {
        // What log's `Option::None` shows as (a string "None" was caught above).
        none if none == "None" => Json::Null,
        other => Json::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_record_is_one_json_object_with_its_fields() {
        let kvs: [(&str, Value<'_>); 5] = [
            ("path", Value::from("/ws")),
            ("status", Value::from(101u16)),
            ("ms", Value::from(0.5f64)),
            ("bytes", Value::from_debug(&None::<u64>)),
            ("ok", Value::from(true)),
        ];
        let ts = UNIX_EPOCH + Duration::from_millis(1_765_026_583_512);
        let line = json_line(
            ts,
            &log::Record::builder()
                .args(format_args!("client \"GET /ws\" 101"))
                .level(log::Level::Info)
                .target("http")
                .key_values(&kvs)
                .build(),
        );
        assert!(!line.contains('\n'));
        let json: Json = serde_json::from_str(&line).unwrap();
        assert_eq!(json["ts"], "2025-12-06T13:09:43.512Z");
        assert_eq!(json["level"], "INFO");
        assert_eq!(json["target"], "http");
        assert_eq!(json["message"], "client \"GET /ws\" 101");
        assert_eq!(
            json["fields"],
            serde_json::json!({"path": "/ws", "status": 101, "ms": 0.5, "bytes": null, "ok": true})
        );
    }

    #[test]
    fn a_record_without_fields_has_an_empty_object() {
        let line = json_line(
            SystemTime::now(),
            &log::Record::builder()
                .args(format_args!("started"))
                .level(log::Level::Warn)
                .target("chat_server::startup")
                .build(),
        );
        let json: Json = serde_json::from_str(&line).unwrap();
        assert_eq!(json["fields"], serde_json::json!({}));
        assert_eq!(json["level"], "WARN");
    }
}
