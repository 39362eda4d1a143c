//! Counting and printing: latencies per command type, errors, and the
//! inconsistencies found.

use crate::model::Finding;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// What one client measured; merged at the end.
#[derive(Default)]
pub struct Stats {
    /// Latencies in microseconds, by command type.
    pub latencies: BTreeMap<&'static str, Vec<u32>>,
    /// Error counts by kind, with one example each.
    pub errors: BTreeMap<String, (u64, String)>,
    /// Tagged NOs that the rules allow (see README: EXPUNGEISSUED).
    pub allowed_no: u64,
    pub ops: u64,
}

impl Stats {
    pub fn record(&mut self, kind: &'static str, took: Duration) {
        let us = took.as_micros().min(u128::from(u32::MAX)) as u32;
        self.latencies.entry(kind).or_default().push(us);
    }

    pub fn error(&mut self, kind: String, example: String) {
        let e = self.errors.entry(kind).or_insert((0, example));
        e.0 += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|(n, _)| n).sum()
    }

    pub fn merge(&mut self, other: Stats) {
        for (k, mut v) in other.latencies {
            self.latencies.entry(k).or_default().append(&mut v);
        }
        for (k, (n, ex)) in other.errors {
            self.errors.entry(k).or_insert((0, ex)).0 += n;
        }
        self.allowed_no += other.allowed_no;
        self.ops += other.ops;
    }
}

/// The value below which `p` (0..=1) of the sorted samples lie.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub struct Summary<'a> {
    pub header: String,
    pub stats: &'a mut Stats,
    pub elapsed: Duration,
    pub findings: &'a [Finding],
    pub finding_count: usize,
}

pub fn render(s: Summary) -> String {
    let mut out = String::new();
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(out, "{}", s.header);
    let _ = writeln!(
        out,
        "\n{:<20} {:>9} {:>10} {:>9} {:>9}",
        "command", "count", "per s", "p50 ms", "p99 ms"
    );
    let mut all = Vec::new();
    for (kind, v) in s.stats.latencies.iter_mut() {
        v.sort_unstable();
        all.extend_from_slice(v);
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>10.1} {:>9.2} {:>9.2}",
            kind,
            v.len(),
            v.len() as f64 / secs,
            f64::from(percentile(v, 0.5)) / 1000.0,
            f64::from(percentile(v, 0.99)) / 1000.0
        );
    }
    all.sort_unstable();
    let _ = writeln!(
        out,
        "{:<20} {:>9} {:>10.1} {:>9.2} {:>9.2}",
        "all",
        all.len(),
        all.len() as f64 / secs,
        f64::from(percentile(&all, 0.5)) / 1000.0,
        f64::from(percentile(&all, 0.99)) / 1000.0
    );
    let _ = writeln!(
        out,
        "\noperations: {} in {:.1} s; allowed NO [EXPUNGEISSUED]: {}",
        s.stats.ops, secs, s.stats.allowed_no
    );
    if !s.stats.errors.is_empty() {
        let _ = writeln!(out, "errors:");
        for (kind, (n, example)) in &s.stats.errors {
            let _ = writeln!(out, "  {n:>6}  {kind}  e.g. {example}");
        }
    }
    if s.finding_count > 0 {
        let _ = writeln!(out, "\ninconsistencies (first {}):", s.findings.len());
        for f in s.findings {
            let _ = writeln!(
                out,
                "  client {} [{}]: {}\n      line: {}",
                f.client, f.command, f.problem, f.line
            );
            for h in &f.history {
                let _ = writeln!(out, "        | {h}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\ntotal: {} commands, {:.1} per s, errors: {}, inconsistencies: {}",
        all.len(),
        all.len() as f64 / secs,
        s.stats.error_count(),
        s.finding_count
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn summary_counts_everything() {
        let mut a = Stats::default();
        a.record("NOOP", Duration::from_millis(2));
        let mut b = Stats::default();
        b.record("NOOP", Duration::from_millis(4));
        b.error("timeout".into(), "NOOP".into());
        a.merge(b);
        let text = render(Summary {
            header: "run".into(),
            stats: &mut a,
            elapsed: Duration::from_secs(2),
            findings: &[],
            finding_count: 0,
        });
        assert!(text.contains("total: 2 commands, 1.0 per s, errors: 1, inconsistencies: 0"));
    }
}
