//! The x86-64 path for the writer's form: [`wide_f32`](super::numbers::wide_f32) with the
//! digit checks, the digits' count and their value in 16-byte vectors (SSE2 compares and
//! `movemask`, an SSSE3 shuffle, and the `pmaddubsw`/`pmaddwd` reduction of 16 digits),
//! compiled for AVX2 and BMI so the vector code needs no register copies and the masks'
//! shifts no `cl`. CPUs without them take
//! [`parse_numbers_portable`](super::numbers::parse_numbers_portable).

use std::arch::x86_64::*;

use super::numbers::POW10;
use crate::kernels::simd::{level, SimdLevel};

/// Whether the CPU has the features [`parse_numbers`] and [`wide_f32`] are compiled for, and
/// `RNN_SENTIMENT_SIMD` allows them (AVX2 or wider; the portable parser gives the same values,
/// and the cap lets the tests compare the two on one machine).
#[inline]
pub(super) fn available() -> bool {
    level() >= SimdLevel::Avx2
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
}

/// [`super::arrays::parse_numbers`] with this module's [`wide_f32`].
#[target_feature(enable = "avx2,bmi1,bmi2")]
pub(super) fn parse_numbers(
    piece: &[u8],
    out: &mut [f32],
) -> std::result::Result<(), (usize, String)> {
    // The closure inherits this function's target features, so the call is safe.
    super::numbers::parse_numbers_with(piece, out, |text| wide_f32(text))
}

/// Byte patterns compared with the text in one go: a minus sign first, then the point
/// after one digit (`D.`) or after a sign and a digit (`-D.`), then commas.
const PUNCTUATION: [u8; 16] = *b"-..,,,,,,,,,,,,,";

/// `pshufb` controls, `SHUFFLES[16 * s + c]` for a number after `s` sign bytes whose comma
/// is `c` bytes after its digit `D` (so `c - 2` fraction digits): they move `D` and the
/// fraction's digits to the end of the vector, the last digit in byte 15 and `D` just
/// before the first, and zero every other byte (a control byte with its high bit set).
/// Entries for counts the path never takes are all 0x80 (they zero the whole vector).
const SHUFFLES: [[u8; 16]; 32] = {
    let mut table = [[0x80u8; 16]; 32];
    let mut s = 0;
    while s < 2 {
        let mut c = 3;
        // The comma is within the 16 bytes: s + c <= 15.
        while s + c < 16 {
            let n = c - 2;
            let entry = &mut table[16 * s + c];
            let mut k = 0;
            while k < n {
                // Fraction digit k is byte s + 2 + k; the last one (k = n - 1) goes to 15.
                entry[16 - n + k] = (s + 2 + k) as u8;
                k += 1;
            }
            entry[15 - n] = s as u8;
            c += 1;
        }
        s += 1;
    }
    table
};

/// `DIVISORS[c] = 10^(c - 2)`, for a comma `c` bytes after the digit `D` (`c - 2`
/// fraction digits); indexed by `c` itself, which the code knows is below 16.
const DIVISORS: [f64; 16] = {
    let mut table = [1.0; 16];
    let mut c = 3;
    while c < 16 {
        table[c] = POW10[c - 2];
        c += 1;
    }
    table
};

/// The 16 bytes of `bytes` as a vector, without `unsafe`: LLVM merges the two halves
/// into one unaligned load.
#[target_feature(enable = "avx2,bmi1,bmi2")]
#[inline]
fn vector(bytes: &[u8; 16]) -> __m128i {
    let (low, high) = bytes.split_at(8);
    let low = i64::from_le_bytes(low.try_into().expect("8 bytes"));
    let high = i64::from_le_bytes(high.try_into().expect("8 bytes"));
    _mm_set_epi64x(high, low)
}

/// [`super::numbers::wide_f32`] in 16-byte vectors: the writer's form `-?D.F+,` with one
/// integer digit and at most 13 fraction digits (12 after a minus sign), as the 16 bytes from
/// the number's first hold its comma. The value is `m / 10^|F|` with `m = D * 10^|F| + F`,
/// exact as in [`super::numbers::fast_f32`]. Returns `(value, bytes used)`, the comma
/// included, or `None` for anything else (fewer than 16 bytes of text, say); the portable
/// code then parses it, and agrees wherever both answer.
#[target_feature(enable = "avx2,bmi1,bmi2")]
#[inline]
pub(super) fn wide_f32(text: &[u8]) -> Option<(f32, usize)> {
    let v = vector(text.get(..16)?.try_into().ok()?);
    // Digit values; bytes outside b'0'..=b'9' give 10..=255, so `min(d, 9) == d` marks
    // the digits (unsigned, unlike the byte compares).
    let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
    let is_digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
    let digits = _mm_movemask_epi8(is_digit) as u32;
    let punctuation = vector(&PUNCTUATION);
    let marks = _mm_movemask_epi8(_mm_cmpeq_epi8(v, punctuation)) as u32;
    // Bit k of each mask is byte k; drop the sign's byte, so that bit 0 is the digit D,
    // bit 1 the point (`D.` or `-D.`, whichever applies) and bits 3.. the commas.
    let sign = marks & 1;
    let digits = digits >> sign;
    let marks = marks >> sign;
    // D, the point, then the fraction's digits: `c` is the first byte that breaks the
    // run (at most 16, as the masks have 16 bits).
    let run = (digits & !2) | (marks & 2);
    let c = (!run).trailing_zeros();
    // It must be a comma after at least one fraction digit (c >= 3).
    if (marks & !7) >> c & 1 == 0 {
        return None;
    }
    let s = sign as usize;
    // c < 16 here (bit 16 of `marks` is clear); the mask says so to the bounds checks.
    let c = c as usize & 15;
    let order = vector(&SHUFFLES[16 * s + c]);
    // D then F as 16 digits (leading zeros), most significant first:
    // pairs 10a + b, quads 100p + q, then eights 10^4 h + l (packed to 16 bits first:
    // quads are below 10^4, so signed saturation never changes them).
    let aligned = _mm_shuffle_epi8(d, order);
    let pairs = _mm_maddubs_epi16(aligned, _mm_set1_epi16(0x010a));
    let quads = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
    let quads = _mm_packs_epi32(quads, quads);
    let eights = _mm_madd_epi16(quads, _mm_set1_epi32(0x0001_2710));
    let eights = _mm_cvtsi128_si64(eights) as u64;
    // m = (first eight digits) * 10^8 + (last eight)
    let m = (eights & 0xffff_ffff) * 100_000_000 + (eights >> 32);
    // m < 10^14 < 2^53: the signed conversion is the same, and one instruction.
    let x = m as i64 as f64 / DIVISORS[c];
    // Halfway between two f32s: see fast_f32.
    if x.to_bits() & 0x1fff_ffff == 0x1000_0000 {
        return None;
    }
    // The sign by its bit, not a branch: weights are positive or negative at random.
    let value = f32::from_bits((x as f32).to_bits() | (sign << 31));
    Some((value, s + c + 1))
}

#[cfg(test)]
mod tests {
    use crate::model_file::arrays::parse_numbers;
    use crate::model_file::numbers::tests::{halfway_texts, reference, xorshift};
    use crate::model_file::numbers::{fast_f32, wide_f32};

    /// The x86 SIMD wide path, checked to be available on this CPU.
    fn wide_simd(text: &[u8]) -> Option<(f32, usize)> {
        assert!(super::available(), "the test needs AVX2 and BMI");
        // SAFETY: the CPU has the features (asserted just above).
        unsafe { super::wide_f32(text) }
    }

    #[test]
    fn the_simd_wide_path_takes_what_it_should_and_agrees() {
        if !super::available() {
            return;
        }
        // -?D.F with 0..=15 fraction digits (leading zeros included), followed by what may
        // follow a number, padded or not (so some texts are shorter than the 16 bytes read).
        let mut state = 0x853c_49e6_748f_ea9bu64;
        let mut taken = 0;
        for round in 0..60_000 {
            xorshift(&mut state);
            let frac_len = round % 16;
            let zeros = (state as usize >> 8) % (frac_len + 1);
            let digits = format!("{:015}", state % 1_000_000_000_000_000);
            let fraction = format!("{}{}", "0".repeat(zeros), &digits[..frac_len - zeros]);
            let negative = state & 1 == 1;
            let sign = if negative { "-" } else { "" };
            let number = format!("{sign}{}.{fraction}", (state >> 4) % 10);
            for (after, pad) in [
                (",", "0.5,0.25,0.125"),
                (",", ""),
                (",", "1"),
                ("]", "0.5,0.25,0.125"),
                (" ,", "0.5,0.25,0.125"),
                ("\n,", "0.5,0.25,0.125"),
                (", ", "0.5,0.25,0.125"),
                ("e-3,", "0.5,0.25,0.125"),
                ("E+2,", "0.5,0.25,0.125"),
                (".5,", "0.5,0.25,0.125"),
                ("x,", "0.5,0.25,0.125"),
                ("-,", "0.5,0.25,0.125"),
                ("5,", "0.5,0.25,0.125"),
                ("", ""),
            ] {
                let text = format!("{number}{after}{pad}");
                let got = wide_simd(text.as_bytes());
                // Taken exactly when the text starts `-?D.F,` with at most 13 fraction
                // digits (12 after a minus sign) in 16 bytes or more, not a halfway case.
                let bytes = text.as_bytes();
                let s = usize::from(bytes[0] == b'-');
                let run = bytes[s + 2..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let end = s + 2 + run;
                let fits = bytes[s].is_ascii_digit()
                    && bytes[s + 1] == b'.'
                    && (1..=13 - s).contains(&run)
                    && bytes.get(end) == Some(&b',')
                    && text.len() >= 16
                    && fast_f32(&bytes[..end]).is_some();
                if fits {
                    let expected = reference(&text[..end]);
                    assert_eq!(
                        got.map(|(v, n)| (v.to_bits(), n)),
                        Some((expected.to_bits(), end + 1)),
                        "{text}"
                    );
                    taken += 1;
                } else {
                    assert_eq!(got, None, "{text}");
                }
                // Wherever both wide paths answer, they agree.
                if let (Some(simd), Some(portable)) = (got, wide_f32(text.as_bytes())) {
                    assert_eq!(simd.0.to_bits(), portable.0.to_bits(), "{text}");
                    assert_eq!(simd.1, portable.1, "{text}");
                }
            }
        }
        assert!(taken > 40_000, "the SIMD path took only {taken}");
        // The edges by name: signed zero, leading zeros, the longest fractions, a number
        // ending at the 16th byte, and forms it leaves.
        let pad = "1.0,1.0,1.0,1.0";
        let simd = |t: &str| wide_simd(format!("{t},{pad}").as_bytes());
        let bits = |t: &str| simd(t).map(|(v, n)| (v.to_bits(), n));
        assert_eq!(bits("-0.0"), Some(((-0.0f32).to_bits(), 5)));
        assert_eq!(bits("0.0"), Some((0.0f32.to_bits(), 4)));
        assert_eq!(bits("0.0000000000001"), Some((1e-13f32.to_bits(), 16)));
        assert_eq!(bits("-0.000000000001"), Some(((-1e-12f32).to_bits(), 16)));
        assert_eq!(simd("9.9999999999999"), Some((10.0, 16)));
        assert_eq!(simd("-9.999999999999"), Some((-10.0, 16)));
        for t in [
            "9.99999999999999",
            "-9.9999999999999",
            "1e5",
            "1.5e5",
            "10.5",
            "00.5",
            "15",
            "1.",
            ".5",
            "+1.5",
            "-",
            "--1.5",
            "-.5",
            "1..5",
            " 1.5",
        ] {
            assert_eq!(simd(t), None, "{t}");
        }
        // Digits of every count from 1 to 13 right up to the end of 16 bytes of text.
        for n in 1..=13 {
            let text = format!("7.{}{}", "3".repeat(n), ",".repeat(14 - n));
            let number = &text[..n + 2];
            assert_eq!(
                wide_simd(text.as_bytes()),
                Some((reference(number), n + 3)),
                "{text}"
            );
        }
        // A number that fits is taken at the very end of 16 bytes, not with fewer.
        assert_eq!(
            wide_simd(b"0.1234567891234,"),
            Some((reference("0.1234567891234"), 16))
        );
        assert_eq!(wide_simd(b"0.123456789123,"), None);
    }

    #[test]
    fn run_time_checks_name_every_enabled_feature() {
        // The three functions here enable exactly what `available` checks, and arrays.rs
        // calls them only after it (the rules are in kernels::target_features).
        let sources = [
            ("src/model_file/x86.rs", include_str!("x86.rs")),
            ("src/model_file/arrays.rs", include_str!("arrays.rs")),
        ];
        let checked = crate::kernels::target_features::check_sources(&sources)
            .unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
        assert_eq!(checked, 3);
    }

    #[test]
    fn the_simd_path_leaves_halfway_cases_to_the_exact_parser() {
        if !super::available() {
            return;
        }
        // As halfway_cases_with_few_digits_go_to_the_exact_parser, with 13 fraction digits
        // (the most the SIMD path takes).
        let mut found = 0;
        for text in halfway_texts(40_000, 13) {
            let padded = format!("{text},1.0,1.0,1.0,1.0");
            assert_eq!(wide_simd(padded.as_bytes()), None, "{text}");
            let mut out = [f32::NAN; 3];
            let array = format!("{text},{text},{text}");
            parse_numbers(array.as_bytes(), &mut out).unwrap();
            assert_eq!(out, [reference(&text); 3], "{text}");
            found += 1;
        }
        assert!(found > 20, "only {found} halfway cases");
    }
}
