//! Which vector instructions the kernels run with, and the switch that caps them.
//!
//! The crate is built for the x86-64 baseline (SSE2); [`widest_simd`] runs a loop compiled
//! for AVX-512 or AVX2 + FMA when the CPU has them. Every kernel computes the same IEEE
//! operations in the same order at every level (products are fused multiply-adds in order of
//! k whatever the vector width; see [`super::gemm`]), so a level changes speed, never a bit of
//! a model or a probability. The environment variable `RNN_SENTIMENT_SIMD` (`avx512`, `avx2`
//! or `baseline`) caps the level, so that one machine can run, and the tests can compare,
//! the paths other CPUs take. It is read once per process ([`configured`]).

use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The environment variable that caps the level.
pub const VARIABLE: &str = "RNN_SENTIMENT_SIMD";

/// A set of vector instructions the kernels can be compiled for, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// The x86-64 baseline, SSE2 (or whatever a non-x86 target has).
    Baseline,
    /// AVX2 and FMA, with BMI1, BMI2 and LZCNT (Intel Haswell, AMD Zen and later).
    Avx2,
    /// AVX-512 F, VL, BW and DQ on top of [`SimdLevel::Avx2`].
    Avx512,
}

impl SimdLevel {
    /// Every level, narrowest first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512];

    /// The value of [`VARIABLE`] that names this level.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Baseline => "baseline",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// The level a value of [`VARIABLE`] names (ASCII case ignored).
    pub fn from_name(name: &str) -> Option<SimdLevel> {
        SimdLevel::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(name))
    }

    /// The widest level this CPU has.
    pub fn detected() -> SimdLevel {
        #[cfg(target_arch = "x86_64")]
        {
            if x86::has_avx512() {
                return SimdLevel::Avx512;
            }
            if x86::has_avx2() {
                return SimdLevel::Avx2;
            }
        }
        SimdLevel::Baseline
    }

    /// Every level this CPU can run, narrowest first.
    pub fn supported() -> Vec<SimdLevel> {
        let widest = SimdLevel::detected();
        SimdLevel::ALL
            .into_iter()
            .filter(|&level| level <= widest)
            .collect()
    }
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a value of [`VARIABLE`] was refused (kept to be reported by every [`configured`]).
#[derive(Clone, Debug)]
struct Refused {
    value: String,
    message: String,
}

/// The level `value` (of [`VARIABLE`]; `None` or empty when unset) asks for on a CPU whose
/// widest level is `widest`.
fn resolve(value: Option<&str>, widest: SimdLevel) -> std::result::Result<SimdLevel, Refused> {
    let value = match value {
        None | Some("") => return Ok(widest),
        Some(value) => value,
    };
    let allowed = |levels: &mut dyn Iterator<Item = SimdLevel>| {
        levels.map(SimdLevel::name).collect::<Vec<_>>().join(", ")
    };
    let refuse = |message: String| Refused {
        value: value.to_string(),
        message,
    };
    match SimdLevel::from_name(value) {
        None => Err(refuse(format!(
            "not a level; use one of {} (each gives the same results), or leave it unset \
             for the widest this CPU has ({widest})",
            allowed(&mut SimdLevel::ALL.into_iter().rev())
        ))),
        Some(level) if level > widest => Err(refuse(format!(
            "this CPU lacks the {level} instructions; use one of {}, or leave it unset",
            allowed(&mut SimdLevel::ALL.into_iter().rev().filter(|&l| l <= widest))
        ))),
        Some(level) => Ok(level),
    }
}

/// [`VARIABLE`] resolved once: the level the kernels run at, or why its value was refused.
fn resolved() -> &'static std::result::Result<SimdLevel, Refused> {
    static LEVEL: OnceLock<std::result::Result<SimdLevel, Refused>> = OnceLock::new();
    LEVEL.get_or_init(|| {
        let value = std::env::var_os(VARIABLE).map(|v| v.to_string_lossy().into_owned());
        resolve(value.as_deref(), SimdLevel::detected())
    })
}

/// The level the kernels run at: the widest this CPU has, capped by [`VARIABLE`]; an error
/// when the variable names no level or one this CPU lacks. The binary calls it at start-up
/// and stops on the error.
pub fn configured() -> Result<SimdLevel> {
    resolved().clone().map_err(|refused| Error::SimdLevel {
        variable: VARIABLE,
        value: refused.value,
        message: refused.message,
    })
}

/// The level the kernels run at ([`configured`]). A refused value of [`VARIABLE`] gives the
/// baseline here, as the narrowest reading of the cap: the binary never gets this far with one,
/// and library callers that skip [`configured`] still get the same results, only slower.
#[inline]
pub fn level() -> SimdLevel {
    *resolved().as_ref().unwrap_or(&SimdLevel::Baseline)
}

/// Runs `body` compiled for the widest vector instructions allowed ([`level`]): AVX-512,
/// else AVX2 + FMA, each with BMI1, BMI2 and LZCNT; else the x86-64 baseline, SSE2.
///
/// The crate is built for the baseline, so without this the gate loops use 4-wide SSE2 even
/// on an AVX-512 machine; setting `target-cpu` instead would make a binary that crashes on
/// older CPUs. `body` must be an `#[inline(always)]` closure whose callees are inlined too
/// (the cells' step functions are), so that all of it is compiled inside the wrapper that
/// enables the features. Results are unchanged: Rust never fuses a multiply and an add on its
/// own, so wider vectors compute the same IEEE operations on more lanes at once; an explicit
/// `mul_add` is one correctly rounded operation on every path (the FMA instruction, or the C
/// library's `fmaf` on the baseline, where the products use `Float::fma_in_f64` instead); and
/// BMI and LZCNT only change how integers are shifted and counted.
#[inline(always)]
pub fn widest_simd<R>(body: impl FnOnce() -> R) -> R {
    simd_at(level(), body)
}

/// [`widest_simd`] at `level` or the widest level below it that the CPU has: the kernels'
/// tests run each level side by side in one process.
#[inline(always)]
pub(crate) fn simd_at<R>(level: SimdLevel, body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if level >= SimdLevel::Avx512 && x86::has_avx512() {
            // SAFETY: `has_avx512` checks at run time every feature `with_avx512` enables, by
            // name (the test `run_time_checks_name_every_enabled_feature` keeps the lists equal).
            return unsafe { x86::with_avx512(body) };
        }
        if level >= SimdLevel::Avx2 && x86::has_avx2() {
            // SAFETY: as above: `has_avx2` checks every feature `with_avx2` enables.
            return unsafe { x86::with_avx2(body) };
        }
    }
    let _ = level;
    body()
}

/// The wrappers [`simd_at`] chooses from, each just below the run-time check that guards
/// it; the check names every feature the wrapper enables, no more and no fewer.
#[cfg(target_arch = "x86_64")]
mod x86 {
    /// Whether the CPU has every feature [`with_avx512`] enables.
    #[inline(always)]
    pub fn has_avx512() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("lzcnt")
    }

    /// Runs `body` compiled for AVX-512 (see [`super::widest_simd`]).
    ///
    /// # Safety
    /// The CPU must have every feature enabled here: call it only when [`has_avx512`] is true.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2,lzcnt")]
    pub unsafe fn with_avx512<R>(body: impl FnOnce() -> R) -> R {
        body()
    }

    /// Whether the CPU has every feature [`with_avx2`] enables.
    #[inline(always)]
    pub fn has_avx2() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("lzcnt")
    }

    /// Runs `body` compiled for AVX2 and FMA (see [`super::widest_simd`]).
    ///
    /// # Safety
    /// The CPU must have every feature enabled here: call it only when [`has_avx2`] is true.
    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt")]
    pub unsafe fn with_avx2<R>(body: impl FnOnce() -> R) -> R {
        body()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_means_the_widest_level() {
        for widest in SimdLevel::ALL {
            assert_eq!(resolve(None, widest).unwrap(), widest);
            assert_eq!(resolve(Some(""), widest).unwrap(), widest);
        }
    }

    #[test]
    fn a_level_caps_at_itself_and_ignores_case() {
        assert_eq!(
            resolve(Some("avx2"), SimdLevel::Avx512).unwrap(),
            SimdLevel::Avx2
        );
        assert_eq!(
            resolve(Some("BASELINE"), SimdLevel::Avx2).unwrap(),
            SimdLevel::Baseline
        );
        assert_eq!(
            resolve(Some("avx512"), SimdLevel::Avx512).unwrap(),
            SimdLevel::Avx512
        );
    }

    #[test]
    fn unknown_or_missing_levels_are_refused_with_the_allowed_ones() {
        let refused = resolve(Some("sse4"), SimdLevel::Avx512).unwrap_err();
        assert_eq!(refused.value, "sse4");
        assert!(
            refused.message.contains("avx512, avx2, baseline"),
            "{}",
            refused.message
        );
        let refused = resolve(Some("avx512"), SimdLevel::Avx2).unwrap_err();
        assert!(
            refused.message.contains("lacks the avx512")
                && refused.message.contains("one of avx2, baseline"),
            "{}",
            refused.message
        );
        assert!(resolve(Some("avx2"), SimdLevel::Baseline).is_err());
    }

    #[test]
    fn the_detected_level_is_supported_and_runs() {
        let supported = SimdLevel::supported();
        assert_eq!(supported.first(), Some(&SimdLevel::Baseline));
        assert_eq!(supported.last(), Some(&SimdLevel::detected()));
        for level in SimdLevel::ALL {
            assert_eq!(simd_at(level, || 41 + 1), 42);
        }
    }

    #[test]
    fn run_time_checks_name_every_enabled_feature() {
        // The two wrappers enable exactly the features their guards check (the rules are in
        // kernels::target_features).
        let source = [("src/kernels/simd.rs", include_str!("simd.rs"))];
        let checked = crate::kernels::target_features::check_sources(&source)
            .unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
        assert_eq!(checked, 2);
    }
}
