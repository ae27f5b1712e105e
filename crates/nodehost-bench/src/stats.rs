//! Summaries of repeated measurements: the median is what we report (robust to the odd run
//! disturbed by another process on a shared machine); quartiles, min and max show the spread.

/// Median, minimum and maximum of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The middle sample (mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// The first quartile: a quarter of the samples are at or below it.
    pub q1: f64,
    /// The third quartile: three quarters of the samples are at or below it.
    pub q3: f64,
    /// A distribution-free interval holding the true median with at least 95% confidence
    /// (order statistics of the binomial); the whole range when there are too few samples.
    pub median_ci: (f64, f64),
}

impl Summary {
    /// Summarises `samples`; `None` when there is none (or one is NaN, which no timer gives).
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        Some(Self {
            median: quantile(&sorted, 0.5),
            min: sorted[0],
            max: sorted[n - 1],
            q1: quantile(&sorted, 0.25),
            q3: quantile(&sorted, 0.75),
            median_ci: median_ci(&sorted),
        })
    }
}

/// The interval `[x(k), x(n+1-k)]` of sorted samples with the largest `k` for which the true
/// median lies outside it with probability at most 5% (each tail: `P(Binomial(n, 1/2) < k) <=
/// 0.025`). Needs no assumption about the distribution, which on a shared VM has long tails.
fn median_ci(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    // P(Binomial(n, 1/2) <= j) for j = 0, 1, ...; k is one more than the last j within 2.5%.
    let mut term = 0.5_f64.powi(n as i32); // P(X = 0)
    let mut below = 0.0;
    let mut k = 0;
    for j in 0..n {
        below += term;
        if below > 0.025 {
            break;
        }
        k = j + 1;
        term *= (n - j) as f64 / (j + 1) as f64;
    }
    if k == 0 {
        (sorted[0], sorted[n - 1])
    } else {
        (sorted[k - 1], sorted[n - k])
    }
}

/// The `p` quantile of sorted, non-empty samples, interpolating linearly between the two
/// nearest ranks (so the 0.5 quantile of an even count is the mean of the middle two).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (below, above) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts_and_spread() {
        assert_eq!(
            Summary::of(&[3.0, 1.0, 2.0]),
            Some(Summary {
                median: 2.0,
                min: 1.0,
                max: 3.0,
                q1: 1.5,
                q3: 2.5,
                median_ci: (1.0, 3.0),
            })
        );
        let quartiles = Summary::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).map(|s| (s.q1, s.median, s.q3));
        assert_eq!(quartiles, Some((2.0, 3.0, 4.0)));
        assert_eq!(Summary::of(&[4.0, 1.0, 3.0, 2.0]).map(|s| s.median), Some(2.5));
        assert_eq!(Summary::of(&[7.0]).map(|s| (s.min, s.max)), Some((7.0, 7.0)));
    }

    #[test]
    fn the_median_interval_uses_the_binomial_order_statistics() {
        // n = 15: P(Binomial(15, 1/2) <= 3) = 0.018, <= 4 is 0.059, so x(4)..x(12).
        let samples: Vec<f64> = (1..=15).map(f64::from).collect();
        assert_eq!(Summary::of(&samples).map(|s| s.median_ci), Some((4.0, 12.0)));
        // n = 21: <= 5 is 0.013, <= 6 is 0.039, so x(6)..x(16).
        let samples: Vec<f64> = (1..=21).rev().map(f64::from).collect();
        assert_eq!(Summary::of(&samples).map(|s| s.median_ci), Some((6.0, 16.0)));
        // Five samples cannot give 95%: the whole range.
        let samples = [3.0, 1.0, 5.0, 2.0, 4.0];
        assert_eq!(Summary::of(&samples).map(|s| s.median_ci), Some((1.0, 5.0)));
    }

    #[test]
    fn nothing_to_summarise() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }
}
