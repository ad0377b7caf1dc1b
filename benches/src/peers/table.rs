//! `peerbench table`: the side-by-side table of several runs, read from the
//! files their `--json` output went to (the last line holding a JSON object
//! counts), and ratios between pairs of them. Works with any tool printing
//! the same keys (`msgs_per_sec`, `mb_per_sec`, `p50_us`, ..., `errors`,
//! `server_cpu_us_per_msg`), so raftmq's `mqbench` rows fit in.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

/// One named run.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub json: Value,
}

/// Reads `NAME=FILE`: the last line of FILE that parses as a JSON object.
pub fn read_row(spec: &str) -> Result<Row> {
    let Some((name, file)) = spec.split_once('=') else {
        bail!("{spec:?}: expected NAME=FILE");
    };
    let text =
        std::fs::read_to_string(Path::new(file)).with_context(|| format!("reading {file}"))?;
    let json = text
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .find(Value::is_object)
        .with_context(|| format!("{file}: no line holds a JSON object"))?;
    Ok(Row {
        name: name.to_owned(),
        json,
    })
}

fn number(row: &Row, key: &str) -> Option<f64> {
    row.json.get(key).and_then(Value::as_f64)
}

fn cell(value: Option<f64>, scale: f64, digits: usize) -> String {
    match value {
        Some(v) => format!("{:.*}", digits, v / scale),
        None => "-".to_owned(),
    }
}

fn thousands(value: Option<f64>) -> String {
    let Some(v) = value else {
        return "-".to_owned();
    };
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The markdown table of `rows`.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| run | msg/s | MB/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | server CPU us/msg | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.name,
            thousands(number(row, "msgs_per_sec")),
            cell(number(row, "mb_per_sec"), 1.0, 1),
            cell(number(row, "p50_us"), 1000.0, 2),
            cell(number(row, "p90_us"), 1000.0, 2),
            cell(number(row, "p99_us"), 1000.0, 2),
            cell(number(row, "p999_us"), 1000.0, 2),
            cell(number(row, "max_us"), 1000.0, 2),
            cell(number(row, "server_cpu_us_per_msg"), 1.0, 1),
            cell(number(row, "errors"), 1.0, 0),
        ));
    }
    out
}

/// `A:B`: how run A compares with run B (A / B for each figure).
pub fn ratio(rows: &[Row], spec: &str) -> Result<String> {
    let Some((a, b)) = spec.split_once(':') else {
        bail!("--ratio {spec:?}: expected A:B");
    };
    let find = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .with_context(|| format!("--ratio {spec}: no run named {name}"))
    };
    let (ra, rb) = (find(a)?, find(b)?);
    let mut parts = Vec::new();
    for (label, key) in [
        ("msg/s", "msgs_per_sec"),
        ("p50", "p50_us"),
        ("p99", "p99_us"),
        ("server CPU/msg", "server_cpu_us_per_msg"),
    ] {
        if let (Some(x), Some(y)) = (number(ra, key), number(rb, key)) {
            if y > 0.0 {
                parts.push(format!("{label} x{:.2}", x / y));
            }
        }
    }
    Ok(format!("{a} / {b}: {}", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(name: &str, json: Value) -> Row {
        Row {
            name: name.to_owned(),
            json,
        }
    }

    #[test]
    fn renders_numbers_and_missing_values() {
        let rows = [row(
            "nats-256",
            json!({"msgs_per_sec": 31234.6, "mb_per_sec": 32.0, "p50_us": 7100, "p99_us": null, "errors": 0}),
        )];
        let table = render(&rows);
        assert!(
            table.contains("| nats-256 | 31,235 | 32.0 | 7.10 | - | - | - | - | - | 0 |"),
            "{table}"
        );
    }

    #[test]
    fn ratios_divide_a_by_b() {
        let rows = [
            row("a", json!({"msgs_per_sec": 60000.0, "p50_us": 1000})),
            row("b", json!({"msgs_per_sec": 30000.0, "p50_us": 4000})),
        ];
        let line = ratio(&rows, "a:b").expect("ratio");
        assert_eq!(line, "a / b: msg/s x2.00, p50 x0.25");
        assert!(ratio(&rows, "a:c").is_err());
    }

    #[test]
    fn reads_the_last_json_line() {
        let dir = std::env::temp_dir().join(format!("peerbench-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("run.out");
        std::fs::write(
            &file,
            "summary line\n{\"msgs_per_sec\": 1}\n{\"msgs_per_sec\": 2}\n",
        )
        .expect("write");
        let r = read_row(&format!("x={}", file.display())).expect("row");
        assert_eq!(r.json["msgs_per_sec"], json!(2));
        std::fs::remove_dir_all(&dir).ok();
    }
}
