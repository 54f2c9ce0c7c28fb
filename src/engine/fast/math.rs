//! The transcendental functions of the fast path — natural logarithm, exponential and power —
//! written so that a loop over them vectorises, and so that every result is the same bit for
//! bit whatever the instruction set (AVX-512, AVX2, SSE2 or scalar code).
//!
//! They use only IEEE-754 operations that are correctly rounded and therefore reproducible
//! (`+ - * /`, `sqrt`, comparisons, conversions of small integers, bit operations): no fused
//! multiply-add (Rust never contracts `a*b + c`, and these functions never call `mul_add`), no
//! table look-ups, no branches on data (every case is a select), no library call.
//!
//! - [`ln`] is musl's (fdlibm's) `log` algorithm without its branches: `x = 2^k·m` with
//!   `m ∈ [√2/2, √2)`, `f = m - 1` (exact), `s = f/(2+f)`, a degree-14 odd polynomial in `s`
//!   (error below 2^-58.45 of `s·R`), and `k·ln 2` in two parts. fdlibm states an error below
//!   1 ulp.
//! - [`ln_dd`] evaluates the same decomposition as an unevaluated sum `hi + lo` (Dekker's exact
//!   product for `f²/2`, Knuth's exact sums for the large terms), with an absolute error below
//!   about `0.1·u` (`u = 2^-53`) against `|ln x|` up to 745: what a power needs, since the
//!   exponential turns an absolute error of its argument into a relative error of its result.
//! - [`exp_dd`] is fdlibm's `exp` (reduction by `k·ln 2` in two parts, a degree-10 rational
//!   form) with the low part of a double-double argument folded into the reduction, and a
//!   two-step scaling by `2^k` that rounds once into the subnormal range.
//! - [`Power`] gives `x^γ` and `x^(γ-1)` of one base from one logarithm: exactly rounded
//!   operations for γ ∈ {0, 1/2, 1, 2} (`1`, `1/x`, `√x`, `1/√x`, `x`, `x·x`), and
//!   `exp_dd(γ·ln_dd(x))` otherwise ([`PowPair`] says which case a γ is).
//!
//! Domain: `x` positive, normal and finite (the fast path only takes logarithms of clipped
//! probabilities `q ∈ [lo, hi]` and of `1 - q`, with `lo ≥ 2^-1022` and `hi < 1` checked when a
//! plan is made); `0 ≤ γ ≤ 1024`.
//!
//! Accuracy, measured by `cargo test --release --lib fast::math -- --ignored --nocapture` over
//! 4·10⁷ arguments (log-uniform on [1e-7, 1] and on [2^-1022, 2^1023], uniform on [1e-7, 1]
//! and on 1 - [1e-7, 1e-3]), against the platform's `f64::ln` / `f64::powf` (glibc 2.36: ln
//! within 0.52 ulp of the exact value, pow within 0.52 ulp), in ulps of the result:
//!
//! | function | max difference from libm | on [1e-7, 1] |
//! |---|---|---|
//! | `ln` | 1 ulp | 1 ulp (2.0% of all arguments differ, by 1 ulp) |
//! | `exp_dd(γ·ln_dd(x))`, γ ∈ [0, 8] | 1 ulp | 1 ulp |
//!
//! The bound type (`bound.rs`) charges a library function `2u·|r|` of its own error, and one
//! ulp of `r` is at most `2u·|r|`: within 1 ulp of the exact value keeps the bound intact. The
//! exactly rounded special cases are within `u·|r|`, except `1/√x` (two roundings: within
//! `2u·|r|` to first order). The unit tests below check these limits on every run with a
//! smaller sample, and check the vectorised loops against the scalar code bit for bit.

/// `ln 2`, high part: 32 significant bits, so that `k·LN2_HI` is exact for `|k| < 2^21`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// `ln 2 - LN2_HI`.
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1/ln 2`.
const INV_LN2: f64 = f64::from_bits(0x3ff7_1547_652b_82fe);

// fdlibm's log polynomial: R(z) ≈ Lg1·z + Lg2·z² + … + Lg7·z⁷, z = s².
const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593);
const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04);
const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359);
const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af);
const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de);
const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f);
const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244);

// fdlibm's exp polynomial.
const P1: f64 = f64::from_bits(0x3fc5_5555_5555_553e);
const P2: f64 = f64::from_bits(0xbf66_c16c_16be_bd93);
const P3: f64 = f64::from_bits(0x3f11_566a_af25_de2c);
const P4: f64 = f64::from_bits(0xbebb_bd41_c5d2_6bf1);
const P5: f64 = f64::from_bits(0x3e66_3769_72be_a4d0);

/// `1.5·2^52`: adding and subtracting it rounds a value below 2^51 to the nearest integer.
const ROUND_SHIFT: f64 = 6_755_399_441_055_744.0;
/// `2^52`, whose bit pattern ORed with a small integer `n` is the double `2^52 + n`.
const TWO_52: f64 = 4_503_599_627_370_496.0;

/// The exponent field of `x` as a double, without an integer-to-float conversion (which AVX2
/// lacks for 64-bit integers).
#[inline(always)]
fn field_as_f64(field: u64) -> f64 {
    f64::from_bits(TWO_52.to_bits() | field) - TWO_52
}

/// `x = 2^k·(1 + f)` with `1 + f ∈ [√2/2, √2)`: returns `(k, f)`, `f` exact. `x` positive normal.
#[inline(always)]
fn reduce(x: f64) -> (f64, f64) {
    // musl's trick: move the mantissa boundary from 1 to √2/2 by an integer offset.
    let offset: u64 = (0x3ff0_0000u64 - 0x3fe6_a09eu64) << 32;
    let ix = x.to_bits().wrapping_add(offset);
    let k = field_as_f64(ix >> 52) - 1023.0;
    let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff).wrapping_add(0x3fe6_a09eu64 << 32));
    (k, m - 1.0)
}

/// fdlibm's `R(z)` with `s = f/(2+f)`, `z = s²`: returns `(s, R)`.
#[inline(always)]
fn log_poly(f: f64) -> (f64, f64) {
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    (s, t2 + t1)
}

/// Natural logarithm of a positive normal finite `x`, within 1 ulp (see the module table).
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let (k, f) = reduce(x);
    let (s, r) = log_poly(f);
    let hfsq = 0.5 * f * f;
    s * (hfsq + r) + k * LN2_LO - hfsq + f + k * LN2_HI
}

/// Dekker's split of `a` into two halves of 26 bits each (`|a| < 2^996`).
#[inline(always)]
fn split(a: f64) -> (f64, f64) {
    let c = 134_217_729.0 * a; // 2^27 + 1
    let hi = c - (c - a);
    (hi, a - hi)
}

/// `a·b = p + e` exactly (Dekker; no fused multiply-add).
#[inline(always)]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    let e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    (p, e)
}

/// `a + b = s + e` exactly (Knuth; any magnitudes).
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// `a + b = s + e` exactly, given `|a| ≥ |b|` (Dekker).
#[inline(always)]
fn fast_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// `ln x` as `hi + lo`, absolute error below about `0.1·u`, for `x` positive normal finite.
#[inline(always)]
pub fn ln_dd(x: f64) -> (f64, f64) {
    let (k, f) = reduce(x);
    let (s, r) = log_poly(f);
    // ln(1+f) = f - f²/2 + s·(f²/2 + R), with f²/2 exact as hh + hl.
    let (f2h, f2l) = two_prod(f, f);
    let (hh, hl) = (0.5 * f2h, 0.5 * f2l);
    let correction = s * (hh + r);
    let (bh, bl) = fast_two_sum(f, -hh); // |f| ≥ f²/2 for |f| < 0.42
    let small = bl + (correction - hl) + k * LN2_LO;
    let (hi, e) = two_sum(k * LN2_HI, bh);
    fast_two_sum(hi, e + small)
}

/// `2^n` for an integer-valued `n ∈ [-1022, 1023]`, from its bit pattern.
#[inline(always)]
fn pow2(n: f64) -> f64 {
    // n + 1023 ∈ [1, 2046]; the conversion to an integer goes through the 2^52 trick.
    let biased = (n + 1023.0 + TWO_52).to_bits() & 0x7ff;
    f64::from_bits(biased << 52)
}

/// `exp(hi + lo)` for a double-double argument (`|lo| ≤ ulp(hi)`), within 1 ulp; `+∞` above
/// about 709.78, `0` below about -745.13, correctly rounded into the subnormal range between.
#[inline(always)]
pub fn exp_dd(hi: f64, lo: f64) -> f64 {
    // Clamp to where the scaling below is valid (a NaN stays NaN).
    let x = hi.clamp(-746.0, 710.0);
    let k = (x * INV_LN2 + ROUND_SHIFT) - ROUND_SHIFT;
    let r_hi = x - k * LN2_HI; // exact (fdlibm)
    let r_lo = k * LN2_LO - lo;
    let r = r_hi - r_lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * (P2 + rr * (P3 + rr * (P4 + rr * P5))));
    let y = 1.0 + ((r * c) / (2.0 - c) - r_lo + r_hi);
    // y·2^k in two steps, exact then rounded once: k1 ≈ k/2, k2 = k - k1, both in [-539, 513].
    let k1 = (k * 0.5 + ROUND_SHIFT) - ROUND_SHIFT;
    let k2 = k - k1;
    y * pow2(k1) * pow2(k2)
}

/// `exp(x)` within 1 ulp.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    exp_dd(x, 0.0)
}

/// `x^y` for `x` positive normal finite and `0 ≤ |y| ≤ 2048`, within 1 ulp.
#[inline(always)]
pub fn pow(x: f64, y: f64) -> f64 {
    let (lh, ll) = ln_dd(x);
    pow_from_ln(lh, ll, y)
}

/// `exp(y·(lh + ll))`.
#[inline(always)]
fn pow_from_ln(lh: f64, ll: f64, y: f64) -> f64 {
    let (ph, pe) = two_prod(y, lh);
    exp_dd(ph, pe + y * ll)
}

/// `x^γ` and `x^(γ-1)` for one exponent γ, as a type, so that a loop over them is compiled
/// for that γ's case alone.
pub trait Power: Copy {
    /// γ.
    fn gamma(self) -> f64;
    /// `x^γ`.
    fn power(self, x: f64) -> f64;
    /// `(x^γ, x^(γ-1))`.
    fn both(self, x: f64) -> (f64, f64);
}

/// γ = 0: `1` and `1/x`.
#[derive(Clone, Copy, Debug)]
pub struct PowZero;
/// γ = 1/2: `√x` and `1/√x`.
#[derive(Clone, Copy, Debug)]
pub struct PowHalf;
/// γ = 1: `x` and `1`.
#[derive(Clone, Copy, Debug)]
pub struct PowOne;
/// γ = 2: `x·x` and `x`.
#[derive(Clone, Copy, Debug)]
pub struct PowTwo;
/// Any other γ: `exp(γ·ln x)` and `exp((γ-1)·ln x)` from one double-double logarithm. Holds γ
/// and `γ - 1` rounded to f64, as the generic evaluator rounds it.
#[derive(Clone, Copy, Debug)]
pub struct PowGeneral(pub f64, pub f64);

impl Power for PowZero {
    #[inline(always)]
    fn gamma(self) -> f64 {
        0.0
    }
    #[inline(always)]
    fn power(self, _x: f64) -> f64 {
        1.0
    }
    #[inline(always)]
    fn both(self, x: f64) -> (f64, f64) {
        (1.0, 1.0 / x)
    }
}

impl Power for PowHalf {
    #[inline(always)]
    fn gamma(self) -> f64 {
        0.5
    }
    #[inline(always)]
    fn power(self, x: f64) -> f64 {
        x.sqrt()
    }
    #[inline(always)]
    fn both(self, x: f64) -> (f64, f64) {
        let r = x.sqrt();
        (r, 1.0 / r)
    }
}

impl Power for PowOne {
    #[inline(always)]
    fn gamma(self) -> f64 {
        1.0
    }
    #[inline(always)]
    fn power(self, x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn both(self, x: f64) -> (f64, f64) {
        (x, 1.0)
    }
}

impl Power for PowTwo {
    #[inline(always)]
    fn gamma(self) -> f64 {
        2.0
    }
    #[inline(always)]
    fn power(self, x: f64) -> f64 {
        x * x
    }
    #[inline(always)]
    fn both(self, x: f64) -> (f64, f64) {
        (x * x, x)
    }
}

impl Power for PowGeneral {
    #[inline(always)]
    fn gamma(self) -> f64 {
        self.0
    }
    #[inline(always)]
    fn power(self, x: f64) -> f64 {
        pow(x, self.0)
    }
    #[inline(always)]
    fn both(self, x: f64) -> (f64, f64) {
        let (lh, ll) = ln_dd(x);
        (pow_from_ln(lh, ll, self.0), pow_from_ln(lh, ll, self.1))
    }
}

/// Which [`Power`] case an exponent falls in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PowPair {
    Zero,
    Half,
    One,
    Two,
    /// γ and `γ - 1`.
    General(f64, f64),
}

impl PowPair {
    /// The case of exponent `gamma` (finite, `0 ≤ gamma ≤ 1024`).
    pub fn new(gamma: f64) -> Self {
        if gamma == 0.0 {
            PowPair::Zero
        } else if gamma == 0.5 {
            PowPair::Half
        } else if gamma == 1.0 {
            PowPair::One
        } else if gamma == 2.0 {
            PowPair::Two
        } else {
            PowPair::General(gamma, gamma - 1.0)
        }
    }

    /// `(x^γ, x^(γ-1))`, one element at a time (the kernels use the [`Power`] types).
    pub fn both(self, x: f64) -> (f64, f64) {
        match self {
            PowPair::Zero => PowZero.both(x),
            PowPair::Half => PowHalf.both(x),
            PowPair::One => PowOne.both(x),
            PowPair::Two => PowTwo.both(x),
            PowPair::General(g, g1) => PowGeneral(g, g1).both(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in ulps between two finite doubles of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        assert!(a.is_finite() && b.is_finite(), "{a} {b}");
        assert!(a.signum() == b.signum() || a == 0.0 || b == 0.0, "{a} {b}");
        (a.abs().to_bits() as i64 - b.abs().to_bits() as i64).unsigned_abs()
    }

    struct Lcg(u64);
    impl Lcg {
        fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The sample families of the module table: (name, generator).
    type Family = (&'static str, Box<dyn Fn(&mut Lcg) -> f64>);

    fn families() -> Vec<Family> {
        vec![
            (
                "log-uniform [1e-7, 1]",
                Box::new(|r: &mut Lcg| (r.uniform() * (1e-7f64).ln()).exp()),
            ),
            (
                "uniform [1e-7, 1]",
                Box::new(|r: &mut Lcg| 1e-7 + r.uniform() * (1.0 - 1e-7)),
            ),
            (
                "1 - [1e-7, 1e-3]",
                Box::new(|r: &mut Lcg| 1.0 - (1e-7 + r.uniform() * 1e-3)),
            ),
            (
                "log-uniform normal range",
                Box::new(|r: &mut Lcg| {
                    let e = -1022.0 + r.uniform() * 2045.0;
                    (1.0 + r.uniform()) * 2f64.powf(e.floor())
                }),
            ),
        ]
    }

    fn measure(per_family: usize) -> (u64, u64, f64) {
        let mut worst_ln = 0;
        let mut worst_pow = 0;
        let mut differing = 0usize;
        let mut total = 0usize;
        for (k, (_, gen)) in families().iter().enumerate() {
            let mut rng = Lcg(0x1234_5678 + k as u64);
            for _ in 0..per_family {
                let x = gen(&mut rng);
                let d = ulps(ln(x), x.ln());
                worst_ln = worst_ln.max(d);
                differing += (d > 0) as usize;
                total += 1;
                if x >= 1e-7 {
                    let g = 8.0 * rng.uniform();
                    let expected = x.powf(g);
                    if expected.is_normal() {
                        worst_pow = worst_pow.max(ulps(pow(x, g), expected));
                        let (a, b) = PowPair::new(g).both(x);
                        assert_eq!(a.to_bits(), pow(x, g).to_bits());
                        let e2 = x.powf(g - 1.0);
                        if e2.is_normal() {
                            worst_pow = worst_pow.max(ulps(b, e2));
                        }
                    }
                }
            }
        }
        (worst_ln, worst_pow, differing as f64 / total as f64)
    }

    #[test]
    fn ln_and_pow_are_within_one_ulp_of_libm() {
        let (ln_ulps, pow_ulps, _) = measure(50_000);
        assert!(ln_ulps <= 1, "ln: {ln_ulps} ulps");
        assert!(pow_ulps <= 1, "pow: {pow_ulps} ulps");
    }

    /// The measurement behind the module table (4·10⁷ arguments; run in release).
    #[test]
    #[ignore]
    fn measure_accuracy_on_a_large_sample() {
        let (ln_ulps, pow_ulps, share) = measure(10_000_000);
        println!(
            "ln: max {ln_ulps} ulp ({:.2}% differ); pow: max {pow_ulps} ulp",
            share * 100.0
        );
    }

    #[test]
    fn special_values_and_ranges() {
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(2.0), std::f64::consts::LN_2);
        assert_eq!(ulps(ln(f64::MIN_POSITIVE), f64::MIN_POSITIVE.ln()), 0);
        assert_eq!(ulps(ln(f64::MAX), f64::MAX.ln()), 0);
        let (h, l) = ln_dd(1.0);
        assert_eq!((h, l), (0.0, 0.0));
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(-746.0), 0.0);
        assert!(exp(f64::NAN).is_nan());
        // Subnormal results are rounded once.
        for x in [-708.5, -720.0, -740.0, -745.0] {
            assert!(ulps(exp(x), x.exp()) <= 1, "{x}: {} vs {}", exp(x), x.exp());
        }
        assert_eq!(pow(0.25, 0.5), 0.5);
        assert_eq!(pow(1.0, 3.7), 1.0);
        // γ - 1 < 0 on a tiny base overflows as libm does.
        assert_eq!(pow(1e-300, -3.0), f64::INFINITY);
        assert_eq!(PowPair::new(0.0).both(0.25), (1.0, 4.0));
        assert_eq!(PowPair::new(0.5).both(0.25), (0.5, 2.0));
        assert_eq!(PowPair::new(2.0).both(0.5), (0.25, 0.5));
    }

    #[test]
    fn ln_dd_carries_the_rounding_error_of_ln() {
        // hi + lo is far more accurate than one double: check it against a compensated
        // evaluation through libm at arguments where ln is an exact small multiple of ln 2.
        for k in [-1022i32, -100, -1, 1, 17, 1023] {
            let x = 2f64.powi(k);
            let (h, l) = ln_dd(x);
            let exact_hi = k as f64 * LN2_HI;
            let exact_lo = k as f64 * LN2_LO;
            let err = ((h - exact_hi) + (l - exact_lo)).abs();
            assert!(
                err <= 1e-3 * f64::EPSILON * (k.abs() as f64),
                "{k}: {err:e}"
            );
        }
    }
}
