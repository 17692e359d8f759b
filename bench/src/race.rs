//! Timing: rates, and races whose rounds alternate between contenders so
//! that load changes on a shared machine hit all alike.

use std::time::{Duration, Instant};

use crate::ROUNDS;

/// Calls per second of `f`, run for about `secs`.
pub(crate) fn rate(secs: f64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let end = Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while start.elapsed() < end {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The rates of each contender, one per round.
pub(crate) struct Race {
    runs: Vec<Vec<f64>>,
    medians: Vec<f64>,
}

impl std::ops::Index<usize> for Race {
    type Output = f64;
    /// The median rate of contender `i`.
    fn index(&self, i: usize) -> &f64 {
        &self.medians[i]
    }
}

impl Race {
    /// Contender `a`'s rate over `b`'s: the median of the ratios within
    /// each round, so that the machine's load, which drifts on a shared
    /// machine, cancels out between neighbours.
    pub(crate) fn ratio(&self, a: usize, b: usize) -> f64 {
        median(
            self.runs[a]
                .iter()
                .zip(&self.runs[b])
                .map(|(x, y)| x / y)
                .collect(),
        )
    }
}

/// Runs every contender once per round, alternating; every other round
/// in reverse order, so that running first or last (a warmer or colder
/// cache) favours no contender.
pub(crate) fn race(secs: f64, contenders: &mut [(&str, &mut dyn FnMut())]) -> Race {
    race_rounds(ROUNDS, secs, contenders)
}

/// [`race`] with `rounds` rounds.
pub(crate) fn race_rounds(
    rounds: usize,
    secs: f64,
    contenders: &mut [(&str, &mut dyn FnMut())],
) -> Race {
    let n = contenders.len();
    let mut runs = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        let mut this = vec![0.0; n];
        for k in 0..n {
            let i = if round % 2 == 0 { k } else { n - 1 - k };
            this[i] = rate(secs, &mut contenders[i].1);
        }
        for (r, x) in runs.iter_mut().zip(this) {
            r.push(x);
        }
    }
    let medians = runs.iter().map(|r| median(r.clone())).collect();
    Race { runs, medians }
}
