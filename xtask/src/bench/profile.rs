//! The writer thread's profile during one load run: where its time went
//! (by phase of a batch, from `crumb_writer_phase_seconds_total`) and how
//! many drafts each commit took (`crumb_commit_batch_drafts`), as the
//! difference of two `GET /metrics` scrapes taken around the run.

use std::collections::BTreeMap;

use serde_json::json;

/// The writer's counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Seconds by phase, in the order `/metrics` lists them.
    phases: Vec<(String, f64)>,
    /// Cumulative commit counts by batch-size bound (`le`), `+Inf` last.
    batches: Vec<(String, u64)>,
    /// Drafts committed (the histogram's sum).
    drafts: f64,
}

impl Snapshot {
    /// Reads the writer's lines out of the Prometheus text.
    pub fn parse(metrics: &str) -> Snapshot {
        let mut s = Snapshot::default();
        for line in metrics.lines().filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let label = |name: &str| {
                key.split_once(&format!("{name}=\""))
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map(|(v, _)| v.to_owned())
            };
            if key.starts_with("crumb_writer_phase_seconds_total{") {
                if let (Some(phase), Ok(v)) = (label("phase"), value.parse()) {
                    s.phases.push((phase, v));
                }
            } else if key.starts_with("crumb_commit_batch_drafts_bucket{") {
                if let (Some(le), Ok(v)) = (label("le"), value.parse()) {
                    s.batches.push((le, v));
                }
            } else if key == "crumb_commit_batch_drafts_sum" {
                s.drafts = value.parse().unwrap_or_default();
            }
        }
        s
    }
}

/// What the writer did between two snapshots.
#[derive(Debug, Clone)]
pub struct Profile {
    pub phases: Vec<(String, f64)>,
    /// Commits whose batch size was at most the bound (not cumulative).
    pub batches: Vec<(String, u64)>,
    pub commits: u64,
    pub records: f64,
}

impl Profile {
    pub fn between(before: &Snapshot, after: &Snapshot) -> Profile {
        let was = |list: &[(String, f64)], k: &str| {
            list.iter().find(|(n, _)| n == k).map_or(0.0, |(_, v)| *v)
        };
        let phases = after
            .phases
            .iter()
            .map(|(k, v)| (k.clone(), v - was(&before.phases, k)))
            .collect();
        let earlier: BTreeMap<&str, u64> = before
            .batches
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        let mut batches = Vec::new();
        let mut below = 0;
        for (le, cumulative) in &after.batches {
            let now = cumulative - earlier.get(le.as_str()).copied().unwrap_or(0);
            batches.push((le.clone(), now - below));
            below = now;
        }
        Profile {
            phases,
            commits: below,
            batches,
            records: after.drafts - before.drafts,
        }
    }

    pub fn print(&self, connections: usize) {
        let total: f64 = self.phases.iter().map(|(_, v)| v).sum();
        println!(
            "\nwriter thread at {connections} connections: {:.0} records in {} commits ({:.1} per commit), {:.0} ms busy",
            self.records,
            self.commits,
            self.records / self.commits.max(1) as f64,
            total * 1e3
        );
        println!(
            "{:<12} {:>10} {:>12} {:>12} {:>7}",
            "phase", "ms", "µs/commit", "µs/record", "share"
        );
        for (phase, s) in &self.phases {
            println!(
                "{:<12} {:>10.1} {:>12.1} {:>12.2} {:>6.1}%",
                phase,
                s * 1e3,
                s * 1e6 / self.commits.max(1) as f64,
                s * 1e6 / self.records.max(1.0),
                s / total.max(f64::MIN_POSITIVE) * 100.0
            );
        }
        let sizes: Vec<String> = self
            .batches
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(le, n)| format!("<={le}: {n}"))
            .collect();
        println!("commits by batch size: {}", sizes.join(", "));
    }

    pub fn json(&self) -> serde_json::Value {
        let per_record = |s: f64| super::server::round(s * 1e6 / self.records.max(1.0), 2);
        json!({
            "records": self.records,
            "commits": self.commits,
            "phases_ms": self.phases.iter().map(|(k, v)| (k.clone(), super::server::round(v * 1e3, 1))).collect::<BTreeMap<_, _>>(),
            "phases_us_per_record": self.phases.iter().map(|(k, v)| (k.clone(), per_record(*v))).collect::<BTreeMap<_, _>>(),
            "commits_by_batch_size": self.batches.iter().map(|(k, v)| (format!("le_{k}"), *v)).collect::<BTreeMap<_, _>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_the_difference_of_two_scrapes() {
        let before = Snapshot::parse(
            "# HELP x\n\
             crumb_commit_batch_drafts_bucket{le=\"1\"} 2\n\
             crumb_commit_batch_drafts_bucket{le=\"2\"} 3\n\
             crumb_commit_batch_drafts_bucket{le=\"+Inf\"} 3\n\
             crumb_commit_batch_drafts_sum 4\n\
             crumb_writer_phase_seconds_total{phase=\"seal\"} 0.5\n",
        );
        let after = Snapshot::parse(
            "crumb_commit_batch_drafts_bucket{le=\"1\"} 2\n\
             crumb_commit_batch_drafts_bucket{le=\"2\"} 5\n\
             crumb_commit_batch_drafts_bucket{le=\"+Inf\"} 6\n\
             crumb_commit_batch_drafts_sum 12\n\
             crumb_writer_phase_seconds_total{phase=\"seal\"} 0.75\n",
        );

        let p = Profile::between(&before, &after);

        assert_eq!(p.records, 8.0);
        assert_eq!(p.commits, 3);
        assert_eq!(
            p.batches,
            [("1".into(), 0), ("2".into(), 2), ("+Inf".into(), 1)]
        );
        assert_eq!(p.phases, [("seal".to_owned(), 0.25)]);
    }
}
