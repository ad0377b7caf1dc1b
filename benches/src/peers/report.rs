//! Latency percentiles and the report every `peerbench` command prints.

use std::time::Duration;

use serde_json::{json, Map, Value};

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Percentiles {
    /// Percentiles of `samples` (microseconds, any order); `None` if empty.
    pub fn of(samples: &mut [u64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Some(Self {
            p50_us: quantile(samples, 0.50),
            p90_us: quantile(samples, 0.90),
            p99_us: quantile(samples, 0.99),
            p999_us: quantile(samples, 0.999),
            max_us: samples[samples.len() - 1],
            mean_us: sum as f64 / samples.len() as f64,
        })
    }
}

/// The nearest-rank quantile `q` of sorted, non-empty `sorted`.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What one measured run produced.
#[derive(Debug)]
pub struct Report {
    /// `nats`, `nats-drain`, `grpc-ceiling`.
    pub bench: &'static str,
    /// Body size in bytes.
    pub size: usize,
    /// Operations kept outstanding (publishes, calls); 0 where it does not
    /// apply (drain).
    pub inflight: usize,
    /// Messages asked for.
    pub requested: u64,
    /// Messages acknowledged (published and acked, or consumed).
    pub acked: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Wall time of the measured run.
    pub elapsed: Duration,
    /// Per-message latency (publish to ack); `None` where not measured.
    pub latency: Option<Percentiles>,
    /// CPU seconds spent by `--server-pids` during the run.
    pub server_cpu_s: Option<f64>,
    /// CPU seconds spent by peerbench itself during the run.
    pub client_cpu_s: Option<f64>,
    /// Context: server connected to, stream leader, ...
    pub notes: Vec<(&'static str, Value)>,
}

impl Report {
    pub fn msgs_per_sec(&self) -> f64 {
        per_second(self.acked as f64, self.elapsed)
    }

    /// Payload throughput in MB/s (10^6 bytes).
    pub fn mb_per_sec(&self) -> f64 {
        per_second(self.acked as f64 * self.size as f64 / 1e6, self.elapsed)
    }

    fn cpu_us_per_msg(&self, seconds: Option<f64>) -> Option<f64> {
        match seconds {
            Some(s) if self.acked > 0 => Some(s * 1e6 / self.acked as f64),
            _ => None,
        }
    }

    pub fn server_cpu_us_per_msg(&self) -> Option<f64> {
        self.cpu_us_per_msg(self.server_cpu_s)
    }

    pub fn client_cpu_us_per_msg(&self) -> Option<f64> {
        self.cpu_us_per_msg(self.client_cpu_s)
    }

    /// The human-readable summary, several lines.
    pub fn text(&self) -> String {
        let inflight = if self.inflight > 0 {
            format!(" ({} in flight)", self.inflight)
        } else {
            String::new()
        };
        let mut out = format!(
            "{}: {} of {} messages of {} B acked in {:.2} s{inflight}: {:.0} msg/s, {:.1} MB/s, {} errors\n",
            self.bench,
            self.acked,
            self.requested,
            self.size,
            self.elapsed.as_secs_f64(),
            self.msgs_per_sec(),
            self.mb_per_sec(),
            self.errors,
        );
        if let Some(l) = &self.latency {
            out.push_str(&format!(
                "  latency (us): p50 {} p90 {} p99 {} p99.9 {} max {} mean {:.0}\n",
                l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
            ));
        }
        if let (Some(s), Some(per)) = (self.server_cpu_s, self.server_cpu_us_per_msg()) {
            out.push_str(&format!(
                "  server CPU: {s:.2} s, {per:.1} us per message\n"
            ));
        }
        if let (Some(s), Some(per)) = (self.client_cpu_s, self.client_cpu_us_per_msg()) {
            out.push_str(&format!(
                "  peerbench CPU: {s:.2} s, {per:.1} us per message\n"
            ));
        }
        for (key, value) in &self.notes {
            out.push_str(&format!("  {key}: {value}\n"));
        }
        if let Some(e) = &self.first_error {
            out.push_str(&format!("  first error: {e}\n"));
        }
        out
    }

    /// The report as one JSON object.
    pub fn json(&self) -> Value {
        let l = self.latency;
        let mut obj = Map::new();
        let mut put = |k: &str, v: Value| {
            obj.insert(k.to_owned(), v);
        };
        put("bench", json!(self.bench));
        put("size", json!(self.size));
        put("inflight", json!(self.inflight));
        put("messages", json!(self.requested));
        put("acked", json!(self.acked));
        put("errors", json!(self.errors));
        put("elapsed_s", json!(round(self.elapsed.as_secs_f64(), 3)));
        put("msgs_per_sec", json!(round(self.msgs_per_sec(), 1)));
        put("mb_per_sec", json!(round(self.mb_per_sec(), 2)));
        put("p50_us", json!(l.map(|l| l.p50_us)));
        put("p90_us", json!(l.map(|l| l.p90_us)));
        put("p99_us", json!(l.map(|l| l.p99_us)));
        put("p999_us", json!(l.map(|l| l.p999_us)));
        put("max_us", json!(l.map(|l| l.max_us)));
        put("mean_us", json!(l.map(|l| round(l.mean_us, 1))));
        put(
            "server_cpu_us_per_msg",
            json!(self.server_cpu_us_per_msg().map(|v| round(v, 2))),
        );
        put(
            "client_cpu_us_per_msg",
            json!(self.client_cpu_us_per_msg().map(|v| round(v, 2))),
        );
        put("first_error", json!(self.first_error));
        for (key, value) in &self.notes {
            put(key, value.clone());
        }
        Value::Object(obj)
    }

    /// Prints the summary on stdout, then, with `json`, the JSON object as
    /// the last line.
    pub fn print(&self, json: bool) {
        print!("{}", self.text());
        if json {
            println!("{}", self.json());
        }
    }
}

fn per_second(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=1000).rev().collect();
        let p = Percentiles::of(&mut samples).expect("samples");
        assert_eq!(p.p50_us, 500);
        assert_eq!(p.p90_us, 900);
        assert_eq!(p.p99_us, 990);
        assert_eq!(p.p999_us, 999);
        assert_eq!(p.max_us, 1000);
        assert!(Percentiles::of(&mut []).is_none());
        let mut one = vec![7];
        assert_eq!(Percentiles::of(&mut one).map(|p| p.p50_us), Some(7));
    }

    #[test]
    fn json_has_the_keys_scripts_read() {
        let report = Report {
            bench: "nats",
            size: 1024,
            inflight: 256,
            requested: 10,
            acked: 10,
            errors: 0,
            first_error: None,
            elapsed: Duration::from_secs(1),
            latency: Percentiles::of(&mut [5, 6, 7]),
            server_cpu_s: Some(0.001),
            client_cpu_s: None,
            notes: vec![],
        };
        let v = report.json();
        for key in [
            "msgs_per_sec",
            "mb_per_sec",
            "p50_us",
            "p90_us",
            "p99_us",
            "p999_us",
            "max_us",
            "errors",
            "server_cpu_us_per_msg",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        assert_eq!(v["msgs_per_sec"], json!(10.0));
        assert_eq!(v["server_cpu_us_per_msg"], json!(100.0));
    }
}
