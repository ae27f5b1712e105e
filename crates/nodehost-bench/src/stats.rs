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
        })
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
            })
        );
        let quartiles = Summary::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).map(|s| (s.q1, s.median, s.q3));
        assert_eq!(quartiles, Some((2.0, 3.0, 4.0)));
        assert_eq!(Summary::of(&[4.0, 1.0, 3.0, 2.0]).map(|s| s.median), Some(2.5));
        assert_eq!(Summary::of(&[7.0]).map(|s| (s.min, s.max)), Some((7.0, 7.0)));
    }

    #[test]
    fn nothing_to_summarise() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }
}
