//! Formatting: the readable table and the JSON figures.

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Rows of `label  value`, printed aligned.
#[derive(Default)]
pub struct Table {
    title: Vec<String>,
    rows: Vec<(String, String)>,
    notes: Vec<String>,
}

impl Table {
    pub fn title(&mut self, line: impl Into<String>) {
        self.title.push(line.into());
    }

    pub fn row(&mut self, label: &str, value: impl Into<String>) {
        self.rows.push((label.to_string(), value.into()));
    }

    pub fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    pub fn print(&self) {
        for t in &self.title {
            println!("{t}");
        }
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 2;
        for (label, value) in &self.rows {
            println!("  {label:<width$}{value}");
        }
        for n in &self.notes {
            println!("{n}");
        }
    }
}

pub fn lat_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "count": h.len(),
        "mean": round2(h.mean()),
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

pub fn ms(us: u64) -> String {
    let v = us as f64 / 1000.0;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `p50 .. p90 .. p99 .. p99.9 .. max ..` in milliseconds.
pub fn lat_line(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "(no deliveries)".to_string();
    }
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (ms, {} samples)",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
        h.len()
    )
}

pub fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A count with thousands separators, for the table.
pub fn num(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn map_json(m: &std::collections::BTreeMap<String, u64>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers() {
        assert_eq!(super::num(0), "0");
        assert_eq!(super::num(1234567), "1,234,567");
        assert_eq!(super::ms(1234), "1.23");
    }
}
