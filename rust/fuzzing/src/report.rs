//! Reading libFuzzer logs into the README's table.

use crate::target::Target;
use std::collections::BTreeMap;
use std::path::Path;

/// What one libFuzzer run reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// `stat::number_of_executed_units`.
    pub execs: u64,
    /// `stat::average_exec_per_sec`.
    pub execs_per_sec: u64,
    /// Edge coverage (`cov:`) of the last status line.
    pub cov: u64,
    /// Features (`ft:`) of the last status line.
    pub features: u64,
    /// Corpus entries (`corp: N/…`) of the last status line.
    pub corpus: u64,
    /// `stat::peak_rss_mb`.
    pub peak_rss_mb: u64,
    /// The first line of a crash, leak, timeout or out-of-memory report.
    pub failure: Option<String>,
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Parses the output of a run with `-print_final_stats=1`.
pub fn parse_log(text: &str) -> RunStats {
    let mut s = RunStats::default();
    for line in text.lines() {
        if line.starts_with('#') && line.contains(" cov: ") {
            s.cov = number_after(line, " cov:").unwrap_or(s.cov);
            s.features = number_after(line, " ft:").unwrap_or(s.features);
            s.corpus = number_after(line, " corp:").unwrap_or(s.corpus);
        } else if let Some(n) = number_after(line, "stat::number_of_executed_units:") {
            s.execs += n;
        } else if let Some(n) = number_after(line, "stat::average_exec_per_sec:") {
            s.execs_per_sec = n;
        } else if let Some(n) = number_after(line, "stat::peak_rss_mb:") {
            s.peak_rss_mb = s.peak_rss_mb.max(n);
        } else if s.failure.is_none()
            && (line.contains("ERROR: libFuzzer:")
                || line.contains("panicked at")
                || line.contains("ERROR: AddressSanitizer"))
        {
            s.failure = Some(line.trim().to_string());
        }
    }
    s
}

/// `12345678` → `1.2·10^7`-style short form used in the table.
pub fn short_count(n: u64) -> String {
    if n < 10_000 {
        return n.to_string();
    }
    let exp = (n as f64).log10().floor() as i32;
    format!("{:.1}e{exp}", n as f64 / 10f64.powi(exp))
}

/// The Markdown table: target, executions, exec/s, coverage, features,
/// goal met, result.
pub fn table(rows: &[(Target, RunStats)], fixed: &BTreeMap<String, usize>) -> String {
    let mut out = String::from(
        "| target | decodes | executions | exec/s | cov | ft | goal | findings fixed | result |\n\
         |---|---|---:|---:|---:|---:|---|---:|---|\n",
    );
    for (t, s) in rows {
        let goal: u64 = if t.pid1 { 10_000_000 } else { 1_000_000 };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} {} | {} | {} |\n",
            t.name,
            t.about,
            short_count(s.execs),
            s.execs_per_sec,
            s.cov,
            s.features,
            short_count(goal),
            if s.execs >= goal { "met" } else { "not yet" },
            fixed.get(t.name).copied().unwrap_or(0),
            s.failure.as_deref().unwrap_or("clean"),
        ));
    }
    out
}

/// Fixed findings per target: the regression inputs under
/// `dir` (`tests/fuzz-regressions/<target>/`).
pub fn fixed_findings(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in crate::targets() {
        let n = std::fs::read_dir(dir.join(t.name)).map_or(0, |d| d.count());
        out.insert(t.name.to_string(), n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_final_stats_and_status_lines() {
        let log = "#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #65536\tpulse  cov: 120 ft: 300 corp: 40/2Kb lim: 4 exec/s: 32768 rss: 40Mb\n\
                   #100000\tDONE   cov: 125 ft: 310 corp: 42/2Kb lim: 4 exec/s: 33333 rss: 41Mb\n\
                   stat::number_of_executed_units: 100000\n\
                   stat::average_exec_per_sec:     33333\n\
                   stat::peak_rss_mb:              41\n";
        let s = parse_log(log);
        assert_eq!(
            (s.execs, s.execs_per_sec, s.cov, s.features, s.corpus),
            (100000, 33333, 125, 310, 42)
        );
        assert_eq!(s.failure, None);
        assert_eq!(short_count(12_345_678), "1.2e7");
    }

    #[test]
    fn reports_the_first_failure_line() {
        let s = parse_log("thread '<unnamed>' panicked at rust/disk/src/gpt.rs:10:5:\n==1== ERROR: libFuzzer: deadly signal\n");
        assert!(s.failure.unwrap().contains("panicked at"));
    }
}
