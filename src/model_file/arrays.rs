//! A JSON array of numbers to `Vec<f32>`: large arrays cut at commas into pieces parsed on
//! all cores, straight into their part of the one output; each piece parsed by the x86
//! vector loop when the CPU has it, the portable one otherwise (`numbers.rs`, `x86.rs`).
//! Errors name the value's index in the whole array.

use rayon::prelude::*;

use super::numbers::{parse_numbers_portable, skip_whitespace};
#[cfg(target_arch = "x86_64")]
use super::x86;

/// Parses a JSON array of numbers into f32, rounding each decimal directly to the nearest f32
/// (what the writer's shortest form round-trips to). Errors name the value's index.
pub(super) fn parse_f32_array(raw: &str) -> std::result::Result<Vec<f32>, String> {
    let bytes = raw.as_bytes();
    let start = skip_whitespace(bytes, 0);
    let end = bytes.iter().rposition(|&b| b == b']');
    let (Some(b'['), Some(end)) = (bytes.get(start), end) else {
        return Err("\"data\" is not an array of numbers".into());
    };
    parse_f32_body(&bytes[start + 1..end])
}

/// Parses the inside of a JSON array of numbers (between `[` and `]`) and checks it is one:
/// numbers in JSON's grammar, separated by commas. Bodies of more than [`PARALLEL_BYTES`] are
/// cut at commas into pieces parsed on all cores, each straight into its own part of the one
/// output (no per-piece vector copied afterwards, so each page of it is touched once).
pub(super) fn parse_f32_body(body: &[u8]) -> std::result::Result<Vec<f32>, String> {
    if skip_whitespace(body, 0) == body.len() {
        return Ok(Vec::new());
    }
    let pieces = split_at_commas(body, rayon::current_num_threads().max(1));
    // A piece that parses holds one number more than it has commas; one that does not fails
    // before it runs out of slots (each number past the first follows its own comma).
    let count = |piece: &[u8]| memchr::memchr_iter(b',', piece).count() + 1;
    let counts: Vec<usize> = if pieces.len() > 1 {
        pieces.par_iter().map(|p| count(p)).collect()
    } else {
        vec![count(body)]
    };
    // Zeroed memory comes from calloc, so the pages are first touched by the parse.
    let mut out = vec![0.0f32; counts.iter().sum()];
    let results: Vec<std::result::Result<(), (usize, String)>> = if pieces.len() > 1 {
        let mut slots = Vec::with_capacity(pieces.len());
        let mut rest = out.as_mut_slice();
        for &n in &counts {
            let (slot, tail) = rest.split_at_mut(n);
            slots.push(slot);
            rest = tail;
        }
        pieces
            .par_iter()
            .zip(slots)
            .map(|(piece, slot)| parse_numbers(piece, slot))
            .collect()
    } else {
        vec![parse_numbers(body, &mut out)]
    };
    // The first failing piece names the value: all pieces before it parsed in full.
    let mut before = 0;
    for (result, n) in results.into_iter().zip(&counts) {
        if let Err((index, message)) = result {
            return Err(format!("value {}{message}", before + index));
        }
        before += n;
    }
    Ok(out)
}

/// Arrays longer than this (in bytes of JSON) are parsed in parallel pieces.
pub(super) const PARALLEL_BYTES: usize = 1 << 20;

/// Cuts `body` (the inside of an array) into about `parts` pieces, each ending before a comma.
fn split_at_commas(body: &[u8], parts: usize) -> Vec<&[u8]> {
    if body.len() < PARALLEL_BYTES || parts < 2 {
        return vec![body];
    }
    let mut pieces = Vec::with_capacity(parts);
    let mut from = 0;
    for k in 1..parts {
        let target = (body.len() * k / parts).max(from);
        match body[target..].iter().position(|&b| b == b',') {
            Some(offset) => {
                pieces.push(&body[from..target + offset]);
                from = target + offset + 1;
            }
            None => break,
        }
    }
    pieces.push(&body[from..]);
    pieces
}

/// Parses comma-separated numbers into `out`, which has one slot per comma and one more; an
/// error carries the index within this piece. Takes the x86 SIMD path for the writer's form
/// when the CPU has it, the portable one otherwise; both give the same values and errors.
pub(super) fn parse_numbers(
    piece: &[u8],
    out: &mut [f32],
) -> std::result::Result<(), (usize, String)> {
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        // SAFETY: the CPU has every feature the function is compiled for (checked just above).
        return unsafe { x86::parse_numbers(piece, out) };
    }
    parse_numbers_portable(piece, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_file::numbers::tests::{reference, xorshift};

    #[test]
    fn float_arrays_parse_exactly_and_report_bad_values() {
        assert_eq!(parse_f32_array(" [ ] ").unwrap(), Vec::<f32>::new());
        assert_eq!(
            parse_f32_array("[1, -0.5,3e-2 ,0.1]").unwrap(),
            [1.0, -0.5, 0.03, 0.1]
        );
        let err = parse_f32_array("[1, 1e39]").unwrap_err();
        assert!(err.contains("value 1 (1e39) is not a finite"), "{err}");
        assert!(parse_f32_array("[1, [2]]").unwrap_err().contains("value 1"));
        assert!(parse_f32_array("{}").is_err());
    }

    #[test]
    fn large_arrays_split_into_pieces_give_the_same_values() {
        // Over PARALLEL_BYTES, so the parallel path runs; shortest-form f32 text round-trips.
        let values: Vec<f32> = (0..300_000)
            .map(|i| libm::sinf((i as f32) * 0.618) * 3.0)
            .collect();
        let text = serde_json::to_string(&values).unwrap();
        assert!(text.len() > PARALLEL_BYTES);
        assert_eq!(parse_f32_array(&text).unwrap(), values);
        let pieces = split_at_commas(&text.as_bytes()[1..text.len() - 1], 4);
        assert_eq!(pieces.len(), 4);
        let mut bad = values.clone();
        bad[250_000] = 0.0;
        let text = serde_json::to_string(&bad)
            .unwrap()
            .replacen(",0.0,", ",1e99,", 1);
        let err = parse_f32_array(&text).unwrap_err();
        assert!(err.starts_with("value 250000 (1e99)"), "{err}");
    }

    #[test]
    fn arrays_of_every_form_parse_as_the_general_parser_does() {
        // The fast path needs a comma after the number and 19 bytes of text: mix numbers it
        // takes with ones it leaves, whitespace, and ends of pieces.
        let mut texts = Vec::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for k in 0..30_000 {
            xorshift(&mut state);
            let x = match k % 4 {
                0 => f32::from_bits(state as u32),
                1 => (state as u32 as f32 / u32::MAX as f32 - 0.5) * 0.2,
                2 => ((state >> 40) as f32 - 8e6) * 1e-3,
                _ => (state as u32 as f32 / u32::MAX as f32 - 0.5) * 1e-5,
            };
            if !x.is_finite() {
                continue;
            }
            texts.push(match k % 5 {
                0 => format!("{x}"),
                1 => format!("{x:e}"),
                _ => serde_json::to_string(&x).unwrap(),
            });
        }
        texts.extend(["-0.0", "0.0", "0", "-0", "1E+2", "0.000001"].map(String::from));
        let expected: Vec<f32> = texts.iter().map(|t| reference(t)).collect();
        for separator in [",", ", ", " ,", ",\n  "] {
            let body = texts.join(separator);
            assert_eq!(parse_f32_array(&format!("[{body}]")).unwrap(), expected);
            assert_eq!(parse_f32_array(&format!("[ {body} ]")).unwrap(), expected);
        }
        // Cut at any comma, the two sides parse to the two halves (numbers at the end of a
        // piece, shorter than the wide path's window).
        let body = texts[..40].join(",");
        let commas: Vec<usize> = memchr::memchr_iter(b',', body.as_bytes()).collect();
        for (n, &cut) in commas.iter().enumerate() {
            for (piece, want) in [
                (&body.as_bytes()[..cut], &expected[..=n]),
                (&body.as_bytes()[cut + 1..], &expected[n + 1..40]),
            ] {
                let mut out = vec![f32::NAN; want.len()];
                parse_numbers(piece, &mut out).unwrap();
                assert_eq!(out, want);
                let mut out = vec![f32::NAN; want.len()];
                parse_numbers_portable(piece, &mut out).unwrap();
                assert_eq!(out, want);
            }
        }
    }

    #[test]
    fn bad_arrays_name_the_value_whatever_the_path() {
        let pad = "0.12345678,".repeat(3);
        for (text, message) in [
            (
                format!("[{pad}01.5,1]"),
                "value 3 is not followed by , or ]",
            ),
            (
                format!("[{pad}0.5.5,1]"),
                "value 3 is not followed by , or ]",
            ),
            (format!("[{pad}.5,1]"), "value 3 is not a number"),
            (format!("[{pad}1.,1]"), "value 3 is not a number"),
            (format!("[{pad}+1.5,1]"), "value 3 is not a number"),
            (format!("[{pad}0.5,,1]"), "value 4 is not a number"),
            (format!("[{pad}0.5,]"), "value 4 is not a number"),
            (format!("[{pad}0.5, ]"), "value 4 is not a number"),
            (format!("[{pad}1e,1]"), "value 3 is not followed by , or ]"),
            (
                format!("[{pad}0.5x,1]"),
                "value 3 is not followed by , or ]",
            ),
            (format!("[{pad}NaN,1]"), "value 3 is not a number"),
            (
                format!("[{pad}0.5\u{e9},1]"),
                "value 3 is not followed by , or ]",
            ),
            (
                format!("[{pad}1e39,1]"),
                "value 3 (1e39) is not a finite 32-bit float",
            ),
        ] {
            assert_eq!(parse_f32_array(&text).unwrap_err(), message, "{text}");
            // The portable path names the same value the same way.
            let body = &text.as_bytes()[1..text.len() - 1];
            let mut out = vec![0.0; memchr::memchr_iter(b',', body).count() + 1];
            let portable = parse_numbers_portable(body, &mut out).unwrap_err();
            assert_eq!(format!("value {}{}", portable.0, portable.1), message);
        }
    }
}
