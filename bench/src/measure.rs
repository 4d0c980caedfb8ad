//! Running an operation many times, from one thread or several at once, and summarising what
//! each call took: mean, percentiles by nearest rank and throughput over wall time. Two
//! operations to be compared run interleaved, so that both see the same conditions.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde::Serialize;

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Threads calling the operation at once.
    pub writers: usize,
    /// Calls measured (warm-up calls excluded).
    pub count: usize,
    /// Wall time from the first measured call to the last one returning.
    pub elapsed_ms: f64,
    /// Calls per second of wall time.
    pub throughput_per_s: f64,
    pub latency_us_mean: f64,
    pub latency_us_min: f64,
    pub latency_us_p50: f64,
    pub latency_us_p99: f64,
    pub latency_us_max: f64,
}

impl Summary {
    /// Summarises per-call latencies of a run that took `elapsed` of wall time.
    pub fn new(writers: usize, samples: &mut [Duration], elapsed: Duration) -> Summary {
        samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let total: Duration = samples.iter().sum();
        let count = samples.len();
        let elapsed_s = elapsed.as_secs_f64();
        Summary {
            writers,
            count,
            elapsed_ms: elapsed_s * 1e3,
            throughput_per_s: if elapsed_s > 0.0 {
                count as f64 / elapsed_s
            } else {
                0.0
            },
            latency_us_mean: if count > 0 {
                us(total) / count as f64
            } else {
                0.0
            },
            latency_us_min: samples.first().copied().map_or(0.0, us),
            latency_us_p50: percentile(samples, 50.0).map_or(0.0, us),
            latency_us_p99: percentile(samples, 99.0).map_or(0.0, us),
            latency_us_max: samples.last().copied().map_or(0.0, us),
        }
    }
}

/// The nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// The median of some figures (the mean of the middle two for an even count); 0 for none.
/// Figures of repeated runs are reported as their median: one slow run on a shared machine
/// does not move it.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Calls `op` `warmup` times unmeasured, then `count` times, timing each call.
pub fn sequential(
    warmup: usize,
    count: usize,
    op: impl Fn() -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    for _ in 0..warmup {
        op()?;
    }
    let mut samples = Vec::with_capacity(count);
    let start = Instant::now();
    for _ in 0..count {
        samples.push(timed(&op)?);
    }
    let elapsed = start.elapsed();
    Ok(Summary::new(1, &mut samples, elapsed))
}

/// Like [`sequential`] for two operations, alternating one call of each, so that both see the
/// same disk and the same neighbours: on a shared machine their ratio is then far steadier
/// than that of two runs one after the other. Each side's wall time is the sum of its calls.
pub fn sequential_pair(
    warmup: usize,
    count: usize,
    a: impl Fn() -> anyhow::Result<()>,
    b: impl Fn() -> anyhow::Result<()>,
) -> anyhow::Result<(Summary, Summary)> {
    for _ in 0..warmup {
        a()?;
        b()?;
    }
    let mut samples_a = Vec::with_capacity(count);
    let mut samples_b = Vec::with_capacity(count);
    for _ in 0..count {
        samples_a.push(timed(&a)?);
        samples_b.push(timed(&b)?);
    }
    let elapsed_a = samples_a.iter().sum();
    let elapsed_b = samples_b.iter().sum();
    Ok((
        Summary::new(1, &mut samples_a, elapsed_a),
        Summary::new(1, &mut samples_b, elapsed_b),
    ))
}

/// Starts `writers` threads that each call `op` `per_writer` times, all released at once, and
/// times every call and the whole run.
pub fn concurrent(
    writers: usize,
    per_writer: usize,
    op: impl Fn() -> anyhow::Result<()> + Sync,
) -> anyhow::Result<Summary> {
    let (mut samples, elapsed) = concurrent_samples(writers, per_writer, &op)?;
    Ok(Summary::new(writers, &mut samples, elapsed))
}

/// Like [`concurrent`] for two operations, in `rounds` alternating rounds (a, b, a, b, ...)
/// that share out the `per_writer` calls, for the reason given at [`sequential_pair`]. Each
/// side's wall time is the sum of its rounds.
pub fn concurrent_pair(
    writers: usize,
    per_writer: usize,
    rounds: usize,
    a: impl Fn() -> anyhow::Result<()> + Sync,
    b: impl Fn() -> anyhow::Result<()> + Sync,
) -> anyhow::Result<(Summary, Summary)> {
    let rounds = rounds.clamp(1, per_writer.max(1));
    let mut samples = (Vec::new(), Vec::new());
    let mut elapsed = (Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        let calls = per_writer * (round + 1) / rounds - per_writer * round / rounds;
        let (s, e) = concurrent_samples(writers, calls, &a)?;
        samples.0.extend(s);
        elapsed.0 += e;
        let (s, e) = concurrent_samples(writers, calls, &b)?;
        samples.1.extend(s);
        elapsed.1 += e;
    }
    Ok((
        Summary::new(writers, &mut samples.0, elapsed.0),
        Summary::new(writers, &mut samples.1, elapsed.1),
    ))
}

fn timed(op: &impl Fn() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    op()?;
    Ok(t.elapsed())
}

/// Every call's latency and the run's wall time.
fn concurrent_samples(
    writers: usize,
    per_writer: usize,
    op: &(impl Fn() -> anyhow::Result<()> + Sync),
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let start_line = Barrier::new(writers + 1);
    let (results, elapsed) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<Vec<Duration>> {
                    start_line.wait();
                    let mut samples = Vec::with_capacity(per_writer);
                    for _ in 0..per_writer {
                        samples.push(timed(op)?);
                    }
                    Ok(samples)
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a writer thread panicked"))
                    .and_then(|r| r)
            })
            .collect();
        (results, start.elapsed())
    });
    let mut samples = Vec::with_capacity(writers * per_writer);
    for result in results {
        samples.extend(result?);
    }
    Ok((samples, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&ms(&[7]), 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn medians_take_the_middle() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[9.0, 1.0, 5.0]), 5.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn a_summary_counts_every_call_of_every_writer() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let summary = concurrent(4, 5, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .expect("no call fails");
        assert_eq!(summary.count, 20);
        assert_eq!(summary.writers, 4);
        assert_eq!(calls.into_inner(), 20);
    }

    #[test]
    fn pairs_share_out_every_call_between_the_rounds() {
        let (a, b) = concurrent_pair(3, 7, 4, || Ok(()), || Ok(())).expect("no call fails");
        assert_eq!((a.count, b.count), (21, 21));
        let (a, b) = sequential_pair(1, 5, || Ok(()), || Ok(())).expect("no call fails");
        assert_eq!((a.count, b.count, a.writers), (5, 5, 1));
    }

    #[test]
    fn a_failing_call_fails_the_run() {
        assert!(sequential(0, 3, || Err(anyhow!("disk full"))).is_err());
        assert!(concurrent(2, 3, || Err(anyhow!("disk full"))).is_err());
        assert!(concurrent_pair(2, 3, 2, || Ok(()), || Err(anyhow!("disk full"))).is_err());
    }
}
