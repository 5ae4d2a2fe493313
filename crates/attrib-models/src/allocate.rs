//! Turning model weights into money: largest-remainder rounding in exact integers.

/// Model weights as non-negative integers proportional to each touch's share.
///
/// Rule-based models produce exact rationals brought to a common denominator, so
/// equal shares are equal integers and ties are real ties; float-valued models
/// (time decay, data-driven) are scaled to 2^60 of the largest weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights(Vec<u128>);

/// Scale used for float weights: fine enough that rounding to it never moves a cent
/// for any i64 amount, coarse enough that sums stay far from u128's limit.
const FLOAT_SCALE: f64 = (1u64 << 60) as f64;

impl Weights {
    /// Proportional integer shares. An all-zero vector is allowed (nothing to credit).
    pub fn from_shares(shares: Vec<u128>) -> Self {
        Weights(shares)
    }

    /// One touch gets everything.
    pub fn one_hot(n: usize, winner: usize) -> Self {
        let mut v = vec![0; n];
        v[winner] = 1;
        Weights(v)
    }

    /// Float shares (any positive scale). Non-finite or negative values count as 0.
    pub fn from_f64(values: &[f64]) -> Self {
        let max = values.iter().copied().filter(|v| v.is_finite() && *v > 0.0).fold(0.0, f64::max);
        if max == 0.0 {
            return Weights(vec![0; values.len()]);
        }
        Weights(
            values
                .iter()
                .map(|&v| if v.is_finite() && v > 0.0 { (v / max * FLOAT_SCALE).round() as u128 } else { 0 })
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn shares(&self) -> &[u128] {
        &self.0
    }

    fn total(&self) -> u128 {
        self.0.iter().sum()
    }

    /// True when every share is zero (a model with nothing to say about these touches).
    pub fn is_zero(&self) -> bool {
        self.total() == 0
    }

    /// Each touch's weight as a fraction of 1 (for reports; money never uses it).
    pub fn fractions(&self) -> Vec<f64> {
        let total = self.total();
        if total == 0 {
            return vec![0.0; self.0.len()];
        }
        self.0.iter().map(|&s| s as f64 / total as f64).collect()
    }
}

/// Splits `amount` minor units by `weights` so that the parts sum to `amount` exactly.
///
/// Each part is the floor of its exact quota; the units left over go one each to the
/// largest remainders, ties to the earlier touch. All-zero weights give all zeros
/// (callers decide what to do with such a conversion).
pub fn allocate(amount: i64, weights: &Weights) -> Vec<i64> {
    let total = weights.total();
    let n = weights.len();
    if total == 0 || amount == 0 {
        return vec![0; n];
    }
    let magnitude = amount.unsigned_abs() as u128;
    let mut parts = Vec::with_capacity(n);
    let mut remainders = Vec::with_capacity(n);
    let mut given: u128 = 0;
    for (i, &s) in weights.0.iter().enumerate() {
        // magnitude < 2^63 and s ≤ total, so the quotient fits and the division is exact.
        let q = mul_div(magnitude, s, total);
        parts.push(q.0);
        remainders.push((q.1, i));
        given += q.0;
    }
    let mut left = magnitude - given;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().filter(|r| weights.0[r.1] > 0) {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    let sign = if amount < 0 { -1 } else { 1 };
    parts.into_iter().map(|p| sign * p as i64).collect()
}

/// floor(a·b / c) and (a·b mod c), exactly, for a < 2^64 and b ≤ c (so the quotient fits).
fn mul_div(a: u128, b: u128, c: u128) -> (u128, u128) {
    if let Some(p) = a.checked_mul(b) {
        return (p / c, p % c);
    }
    // 256-bit product from 64-bit limbs (a has one limb), then bitwise long division.
    const MASK: u128 = u64::MAX as u128;
    let low = a * (b & MASK);
    let mid = a * (b >> 64);
    let (lo, carry) = (mid << 64).overflowing_add(low);
    let hi = (mid >> 64) + carry as u128;
    let (mut q, mut r) = (0u128, 0u128);
    for i in (0..256).rev() {
        let bit = if i >= 128 { (hi >> (i - 128)) & 1 } else { (lo >> i) & 1 };
        let overflow = r >> 127;
        r = (r << 1) | bit;
        q <<= 1;
        if overflow == 1 || r >= c {
            r = r.wrapping_sub(c);
            q |= 1;
        }
    }
    (q, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn thirds_of_a_dollar_give_the_extra_cent_to_the_earliest_touch() {
        assert_eq!(allocate(100, &Weights::from_shares(vec![1, 1, 1])), vec![34, 33, 33]);
        assert_eq!(allocate(200, &Weights::from_shares(vec![1, 1, 1])), vec![67, 67, 66]);
    }

    #[test]
    fn largest_remainder_beats_position() {
        // Quotas 1.2, 1.4, 2.4 of 5: floors 1,1,2 and the last cent goes to the .4s, earliest first.
        assert_eq!(allocate(5, &Weights::from_shares(vec![6, 7, 12])), vec![1, 2, 2]);
    }

    #[test]
    fn zero_weights_get_nothing_even_with_cents_left() {
        assert_eq!(allocate(1, &Weights::from_shares(vec![0, 1, 1])), vec![0, 1, 0]);
        assert_eq!(allocate(7, &Weights::one_hot(3, 2)), vec![0, 0, 7]);
        assert_eq!(allocate(7, &Weights::from_shares(vec![0, 0])), vec![0, 0]);
    }

    #[test]
    fn the_wide_product_path_matches_plain_division() {
        let (a, b, c) = (u64::MAX as u128, (1u128 << 100) + 12345, (1u128 << 101) + 7);
        let (q, r) = mul_div(a, b, c);
        // Check q·c + r == a·b by comparing modulo 2^128 and bounding r.
        assert!(r < c);
        assert_eq!(q.wrapping_mul(c).wrapping_add(r), a.wrapping_mul(b));
        let approx = (a as f64) * (b as f64) / (c as f64);
        assert!(((q as f64) - approx).abs() / approx < 1e-12);
    }

    #[test]
    fn huge_amounts_stay_exact() {
        let parts = allocate(i64::MAX, &Weights::from_f64(&[1.0, 2.0, 3.0]));
        assert_eq!(parts.iter().map(|&p| p as i128).sum::<i128>(), i64::MAX as i128);
    }

    proptest! {
        #[test]
        fn parts_sum_to_the_amount_and_are_never_negative(
            amount in 0i64..=i64::MAX,
            shares in prop::collection::vec(0u128..1_000_000_000_000, 1..40),
        ) {
            let w = Weights::from_shares(shares);
            let parts = allocate(amount, &w);
            prop_assert!(parts.iter().all(|&p| p >= 0));
            if !w.is_zero() {
                prop_assert_eq!(parts.iter().map(|&p| p as i128).sum::<i128>(), amount as i128);
            }
        }

        #[test]
        fn float_weights_sum_exactly_too(
            amount in 0i64..10_000_000_000,
            values in prop::collection::vec(0.0f64..1.0, 1..30),
        ) {
            let w = Weights::from_f64(&values);
            let parts = allocate(amount, &w);
            if !w.is_zero() {
                prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            }
        }
    }
}
