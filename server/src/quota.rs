//! Write quotas: a token bucket per client network (the same /24 or /48
//! the log keeps), so one client cannot flood the consent log (skewing the
//! owner's statistics and filling the disk) while a busy office behind one
//! address is never held up in normal use. Reads are not limited.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before full ones (the same as no bucket) are dropped.
const TIDY_ABOVE: usize = 10_000;

/// The buckets, and how many there may be before the next tidy.
#[derive(Debug)]
struct Buckets {
    map: HashMap<String, Bucket>,
    /// Twice what the last tidy kept (at least [`TIDY_ABOVE`]): when many
    /// networks write at once, a tidy keeps nearly all of them, and tidying
    /// again on the next write would walk the whole map on every write.
    tidy_above: usize,
    #[cfg(test)]
    tidies: usize,
}

#[derive(Debug)]
pub struct Quota {
    /// Writes per second a network earns back.
    rate: f64,
    /// Writes a network may make at once; 0 switches quotas off.
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Quota {
    pub fn new(rate_per_second: f64, burst: u32) -> Quota {
        Quota {
            rate: rate_per_second.max(0.0),
            burst: f64::from(burst),
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                tidy_above: TIDY_ABOVE,
                #[cfg(test)]
                tidies: 0,
            }),
        }
    }

    /// Takes one write for `network` at `now`: `Err` with the wait until
    /// the next one is earned when the bucket is empty.
    pub fn take(&self, network: &str, now: Instant) -> Result<(), Duration> {
        if self.burst == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.map.len() > buckets.tidy_above {
            let (rate, burst) = (self.rate, self.burst);
            buckets
                .map
                .retain(|_, b| b.refilled(now, rate, burst) < burst);
            buckets.tidy_above = (2 * buckets.map.len()).max(TIDY_ABOVE);
            #[cfg(test)]
            {
                buckets.tidies += 1;
            }
        }
        let bucket = buckets.map.entry(network.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = bucket.refilled(now, self.rate, self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = if self.rate > 0.0 {
            (1.0 - bucket.tokens) / self.rate
        } else {
            f64::from(u32::MAX)
        };
        Err(Duration::from_secs_f64(wait))
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        (self.tokens + earned).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_gets_its_burst_then_earns_writes_back_at_the_rate() {
        let q = Quota::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(q.take("192.0.2.0/24", t0), Ok(()));
        }
        assert_eq!(q.take("192.0.2.0/24", t0), Err(Duration::from_millis(500)));
        // Another network has its own bucket.
        assert_eq!(q.take("198.51.100.0/24", t0), Ok(()));
        // Half a second later one write is earned back.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(q.take("192.0.2.0/24", later), Ok(()));
        assert!(q.take("192.0.2.0/24", later).is_err());
    }

    impl Quota {
        fn tidies(&self) -> usize {
            self.buckets.lock().unwrap().tidies
        }
        fn tracks(&self, network: &str) -> bool {
            self.buckets.lock().unwrap().map.contains_key(network)
        }
    }

    #[test]
    fn many_busy_networks_are_tidied_now_and_then_not_on_every_write() {
        // Arrange: more networks than TIDY_ABOVE, each with a write taken,
        // so none of their buckets is full and a tidy keeps them all (a
        // flood from many networks at once, as from a large IPv6 block).
        let q = Quota::new(1.0, 5);
        let now = Instant::now();
        let networks: Vec<String> = (0..=TIDY_ABOVE)
            .map(|i| format!("2001:db8:{i:x}::/48"))
            .collect();
        for n in &networks {
            q.take(n, now).unwrap();
        }
        let tidies = q.tidies();

        // Act: each of them writes once more.
        for n in &networks {
            let _ = q.take(n, now);
        }

        // Assert: the map was walked once at most, not once per write
        // (which made every write cost as much as the whole map).
        assert!(q.tidies() - tidies <= 1, "{} tidies", q.tidies() - tidies);
        // Full buckets still go when a tidy comes: an hour later the first
        // networks' buckets have refilled, and once as many new networks
        // have written, a tidy has dropped them.
        let later = now + Duration::from_secs(3600);
        for i in 0..=2 * TIDY_ABOVE {
            q.take(&format!("2001:db8:1:{i:x}::/64"), later).unwrap();
        }
        assert!(!q.tracks(&networks[0]));
    }

    #[test]
    fn a_burst_of_zero_switches_quotas_off() {
        let q = Quota::new(0.0, 0);
        let now = Instant::now();
        assert!((0..1000).all(|_| q.take("192.0.2.0/24", now).is_ok()));
    }
}
