//! The statistics of the root cause: a one-sided Fisher exact test (the
//! upper tail of the hypergeometric distribution) and the Benjamini-Hochberg
//! correction for the number of hypotheses tested.

/// ln(n!), exact by summation below 256, Stirling's series above (error
/// below 1e-13 there).
fn ln_factorial(n: u64) -> f64 {
    if n < 256 {
        return (2..=n).map(|k| (k as f64).ln()).sum();
    }
    let x = n as f64 + 1.0;
    // ln Γ(x), x > 256
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x) - 1.0 / (360.0 * x.powi(3))
        + 1.0 / (1260.0 * x.powi(5))
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// P(X >= k) for X ~ Hypergeometric(population `n_all`, `successes` in it,
/// `draws`): the one-sided (greater) Fisher exact p-value of seeing `k` of
/// `draws` stolen tokens with a value `successes` of all `n_all` tokens have.
pub fn fisher_greater(k: u64, draws: u64, successes: u64, n_all: u64) -> f64 {
    let hi = draws.min(successes);
    let lo = draws.saturating_sub(n_all - successes);
    if k <= lo {
        return 1.0;
    }
    if k > hi {
        return 0.0;
    }
    let denom = ln_choose(n_all, draws);
    let p: f64 =
        (k..=hi).map(|x| (ln_choose(successes, x) + ln_choose(n_all - successes, draws - x) - denom).exp()).sum();
    p.min(1.0)
}

/// Benjamini-Hochberg adjusted p-values (q-values), in the input's order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for (r, &i) in idx.iter().enumerate() {
        let rank = (m - r) as f64;
        running = running.min(p[i] * m as f64 / rank);
        q[i] = running.min(1.0);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fisher_matches_known_values() {
        // Fisher's tea-tasting table [[3, 1], [1, 3]]: p = 17/70 = 0.242857 (scipy: 0.24285714285714283)
        let p = fisher_greater(3, 4, 4, 8);
        assert!((p - 17.0 / 70.0).abs() < 1e-12, "{p}");
        // [[8, 2], [1, 5]] (stolen: 8 with, 2 without; others: 1 with, 5 without):
        // scipy 1.x: fisher_exact([[8, 2], [1, 5]], alternative='greater')[1] = 0.024475524475524483 (35/1430)
        let p = fisher_greater(8, 10, 9, 16);
        assert!((p - 0.024_475_524_475_524_476).abs() < 1e-12, "{p}");
        // nothing unusual: a share like everyone's
        assert!(fisher_greater(1, 10, 100, 1000) > 0.5);
        assert_eq!(fisher_greater(0, 10, 100, 1000), 1.0);
    }

    #[test]
    fn large_populations_stay_accurate() {
        // Stirling above 256 agrees with the exact sum at the seam
        let exact: f64 = (2..=300u64).map(|k| (k as f64).ln()).sum();
        assert!((ln_factorial(300) - exact).abs() < 1e-9);
        // 15 of 18 stolen tokens with a value 7.7 % of 4000 tokens have: vanishingly unlikely
        let p = fisher_greater(15, 18, 308, 4000);
        assert!(p > 0.0 && p < 1e-12, "{p}");
    }

    #[test]
    fn benjamini_hochberg_is_monotone_and_scaled() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.5]);
        // sorted p: 0.01 (rank 1), 0.03 (2), 0.04 (3), 0.5 (4): q = min over ranks >= of p*m/rank
        let want = [0.04, 0.053_333_333_333_333_33, 0.053_333_333_333_333_33, 0.5];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }
}
