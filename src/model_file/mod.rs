//! The model file: one versioned JSON document, written atomically, validated on load.
//!
//! ```text
//! {"format": "rnn-sentiment", "version": 1,
//!  "config":    {cell, vocab_size, embed_dim, hidden_dim, forget_bias, threshold},
//!  "tokenizer": {lowercase, punctuation, strip_html, max_len, truncation},
//!  "vocab":     ["<pad>", "<unk>", ...]                     (id order)
//!  "weights":   {"embedding.weight": {"shape": [V, E], "data": [...]}, ...}  (row-major,
//!               PyTorch state_dict names and order)
//!  "training":  {...}}                                      (how it was trained; no timings)
//! ```
//!
//! Floats are written in their shortest form that reads back to the same `f32`, so a
//! save -> load -> save round trip is byte-identical. Saving writes a temporary file in the
//! target's directory, flushes it to disk and renames it over the target: a crash leaves
//! either the old file or the complete new one, never a mix.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufRead;
use std::path::Path;

use rayon::prelude::*;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::files::Role;
use crate::limits::MAX_MODEL_BYTES;
use crate::model::params::{expected_shapes, Params, Tensor};
use crate::model::Classifier;
use crate::sentiment::SentimentModel;
use crate::text::{Tokenizer, TokenizerConfig, Vocab};
use crate::training_info::TrainingInfo;

/// The `format` value of every model file.
pub const FORMAT: &str = "rnn-sentiment";
/// The file version this build writes and reads.
pub const VERSION: u64 = 1;

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u64,
    config: &'a ModelConfig,
    tokenizer: &'a TokenizerConfig,
    vocab: &'a [String],
    weights: WeightsOut<'a>,
    training: &'a TrainingInfo,
}

/// Serializes the weights as a JSON object in canonical order.
struct WeightsOut<'a>(&'a ModelConfig, &'a Params<f32>);

#[derive(Serialize)]
struct TensorOut<'a> {
    shape: &'a [usize],
    data: &'a [f32],
}

impl Serialize for WeightsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let shapes = expected_shapes(self.0);
        let mut map = serializer.serialize_map(Some(shapes.len()))?;
        for ((name, _), t) in shapes.iter().zip(self.1.tensors()) {
            map.serialize_entry(
                name,
                &TensorOut {
                    shape: &t.shape,
                    data: &t.data,
                },
            )?;
        }
        map.end()
    }
}

/// The one pass of serde over a model file: small sections stay raw JSON, checked after
/// format and version; each weight's numbers stay raw text for [`parse_f32_array`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn<'a> {
    format: Option<String>,
    version: Option<u64>,
    #[serde(borrow)]
    config: Option<&'a RawValue>,
    #[serde(borrow)]
    tokenizer: Option<&'a RawValue>,
    #[serde(borrow)]
    vocab: Option<&'a RawValue>,
    #[serde(borrow)]
    weights: Option<Weights<'a>>,
    #[serde(borrow)]
    training: Option<&'a RawValue>,
}

/// The `"weights"` object, by name. A name given twice is an error, as a duplicate key is
/// anywhere else in the file (serde refuses those for the fixed fields).
struct Weights<'a>(BTreeMap<String, TensorIn<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Weights<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Weights<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of named weights")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut weights = BTreeMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    let tensor: TensorIn<'a> = map.next_value()?;
                    if weights.contains_key(&name) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate weight {name:?}"
                        )));
                    }
                    weights.insert(name, tensor);
                }
                Ok(Weights(weights))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// Only format and version, read when a file does not fit [`FileIn`], so that a file of
/// another format or a future version is named as such rather than by its first odd field.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// Checks format and version; `Ok` when they are this build's.
fn check_header(
    format: Option<&str>,
    version: Option<&serde_json::Value>,
) -> std::result::Result<(), String> {
    match format {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("format is {other:?}, expected {FORMAT:?}")),
        None => {
            return Err(format!(
                "no \"format\" field; expected \"format\": {FORMAT:?}"
            ))
        }
    }
    match version.map(|v| (v.as_u64(), v)) {
        Some((Some(VERSION), _)) => Ok(()),
        Some((Some(v), _)) => Err(format!(
            "file version {v} is not supported; this build of rnn-sentiment {} reads version {VERSION}",
            env!("CARGO_PKG_VERSION")
        )),
        Some((None, v)) => Err(format!(
            "the \"version\" field is {v}, not a positive whole number; this build reads version {VERSION}"
        )),
        None => Err("no \"version\" field".into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorIn<'a> {
    shape: Vec<u64>,
    /// Kept as JSON text and parsed by [`parse_f32_array`] once the shape has been checked:
    /// no allocation before the shape is known to be right, and numbers go straight to f32.
    #[serde(borrow)]
    data: &'a RawValue,
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Parses a JSON array of numbers into f32, rounding each decimal directly to the nearest f32
/// (what the writer's shortest form round-trips to). Errors name the value's index.
fn parse_f32_array(raw: &str) -> std::result::Result<Vec<f32>, String> {
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
fn parse_f32_body(body: &[u8]) -> std::result::Result<Vec<f32>, String> {
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
const PARALLEL_BYTES: usize = 1 << 20;

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
fn parse_numbers(piece: &[u8], out: &mut [f32]) -> std::result::Result<(), (usize, String)> {
    #[cfg(target_arch = "x86_64")]
    if wide_x86::available() {
        // SAFETY: the CPU has every feature the function is compiled for (checked just above).
        return unsafe { wide_x86::parse_numbers(piece, out) };
    }
    parse_numbers_portable(piece, out)
}

/// [`parse_numbers`] with the portable (SWAR) [`wide_f32`], for any CPU.
fn parse_numbers_portable(
    piece: &[u8],
    out: &mut [f32],
) -> std::result::Result<(), (usize, String)> {
    parse_numbers_with(piece, out, wide_f32)
}

/// The loop of [`parse_numbers`], with `wide` for the writer's form `-?D.F+,` (a number
/// and its comma; `None` for anything else). Inlined into each caller, so that `wide` is
/// compiled with the caller's target features.
#[inline(always)]
fn parse_numbers_with(
    piece: &[u8],
    out: &mut [f32],
    wide: impl Fn(&[u8]) -> Option<(f32, usize)>,
) -> std::result::Result<(), (usize, String)> {
    let mut i = 0;
    for (k, slot) in out.iter_mut().enumerate() {
        // The writer's form: a number and its comma, taken together.
        if let Some((value, used)) = wide(&piece[i..]) {
            *slot = value;
            i += used;
            continue;
        }
        // Anything else: whitespace around the number, the last number of the piece, or
        // other forms of numbers (and errors).
        i = skip_whitespace(piece, i);
        let (value, used) = other_f32(&piece[i..]).map_err(|message| (k, message))?;
        *slot = value;
        i = skip_whitespace(piece, i + used);
        match piece.get(i) {
            Some(b',') => i += 1,
            None => return Ok(()),
            Some(_) => return Err((k, " is not followed by , or ]".to_string())),
        }
    }
    // Not reached: each comma passed was one of the piece's, and `out` has a slot after each
    // of them. Said as an error all the same, as the loader never panics on a file.
    Err((
        out.len().saturating_sub(1),
        " is followed by more values than the array's commas allow".to_string(),
    ))
}

/// Every number [`wide_f32`] leaves: [`fast_f32`] when it can (its values are finite, see its
/// bounds), else the general parser, which takes any number in JSON's grammar that gives a
/// finite f32. Returns `(value, bytes used)` or the error's message (to follow the index).
/// Kept out of line so that the hot loop around [`wide_f32`] keeps its values in registers.
#[inline(never)]
fn other_f32(text: &[u8]) -> std::result::Result<(f32, usize), String> {
    if let Some(parsed) = fast_f32(text) {
        return Ok(parsed);
    }
    let (value, used) = fast_float2::parse_partial::<f32, _>(text)
        .ok()
        .filter(|&(_, used)| is_json_number(&text[..used]))
        .ok_or_else(|| " is not a number".to_string())?;
    if !value.is_finite() {
        return Err(format!(
            " ({}) is not a finite 32-bit float",
            String::from_utf8_lossy(&text[..used])
        ));
    }
    Ok((value, used))
}

/// Powers of ten that f64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// What [`wide_f32`] leaves, in one pass over the text: a number in JSON's grammar with at
/// most 15 digits and a decimal exponent within ±22, which is every float the writer
/// produces. Then `m` and `10^|e|` are exact in f64, so `x = m * 10^e` (or `m / 10^-e`) is the
/// correctly rounded f64 of the decimal, and `x as f32` is its correctly rounded f32 unless
/// `x` sits exactly halfway between two f32s (rounding twice could then go the wrong way; any
/// other f32 halfway point between the decimal and `x` would be a nearer f64 than `x`). The
/// result lies in 1e-22..1e37 or is zero, inside f32's normal range. Returns `(value, bytes
/// used)`, or `None` for anything else, valid or not, which goes to the general parser.
fn fast_f32(text: &[u8]) -> Option<(f32, usize)> {
    /// Appends the decimal digits from `*i` on to `m`; returns how many there were. Eight
    /// at a time while it can (SWAR, as Rust's own float parser does), then one by one.
    #[inline(always)]
    fn take_digits(text: &[u8], i: &mut usize, m: &mut u64) -> usize {
        let start = *i;
        while let Some(chunk) = text.get(*i..*i + 8) {
            let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            // All eight bytes in b'0'..=b'9'?
            let a = v.wrapping_add(0x4646_4646_4646_4646);
            let b = v.wrapping_sub(0x3030_3030_3030_3030);
            if (a | b) & 0x8080_8080_8080_8080 != 0 {
                break;
            }
            *m = m.wrapping_mul(100_000_000).wrapping_add(eight_digits(b));
            *i += 8;
        }
        while *i < text.len() {
            let d = text[*i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            *m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            *i += 1;
        }
        *i - start
    }
    let negative = text.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let mut m: u64 = 0;
    let mut digits = match text.get(i) {
        Some(b'0') => {
            i += 1;
            1
        }
        Some(b'1'..=b'9') => take_digits(text, &mut i, &mut m),
        _ => return None,
    };
    let mut exponent: i32 = 0;
    if text.get(i) == Some(&b'.') {
        i += 1;
        let n = take_digits(text, &mut i, &mut m);
        if n == 0 {
            return None;
        }
        digits += n;
        exponent -= n as i32;
    }
    if let Some(b'e' | b'E') = text.get(i) {
        i += 1;
        let sign = match text.get(i) {
            Some(b'-') => {
                i += 1;
                -1
            }
            Some(b'+') => {
                i += 1;
                1
            }
            _ => 1,
        };
        let mut e = 0u64;
        let n = take_digits(text, &mut i, &mut e);
        if n == 0 || n > 4 {
            return None;
        }
        exponent += sign * e as i32;
    }
    if digits > 15 || exponent.unsigned_abs() > 22 {
        return None;
    }
    let power = POW10[exponent.unsigned_abs() as usize];
    let x = if exponent >= 0 {
        m as f64 * power
    } else {
        m as f64 / power
    };
    // f64 has 29 more mantissa bits than f32: halfway between two f32s is 1 then 28 zeros.
    if x.to_bits() & 0x1fff_ffff == 0x1000_0000 {
        return None;
    }
    let value = x as f32;
    Some((if negative { -value } else { value }, i))
}

/// The writer's usual form for weights and its comma, `-?D.F+,` with one integer digit and
/// at most 14 fraction digits, without a branch that depends on how many digits there are
/// (their count varies from number to number, so a digit-by-digit loop mispredicts its
/// exit). Reads the 16 bytes after the point at once, counts the fraction's digits from the
/// first non-digit byte, and converts them all with SWAR. The value is `m / 10^|F|` with
/// `m = D * 10^|F| + F`, exact as in [`fast_f32`] (at most 15 digits, so `m < 10^15 < 2^53`;
/// the result lies in 1e-14..10 or is zero). Returns `(value, bytes used)`, the comma
/// included, or `None` for anything else (fewer than 19 bytes of text, more integer digits,
/// no fraction, an exponent, whitespace or another byte after the number, a halfway case);
/// [`other_f32`] then parses it, and agrees wherever both answer.
#[inline(always)]
fn wide_f32(text: &[u8]) -> Option<(f32, usize)> {
    // The sign byte, the digit and the point, then 16 bytes of fraction, whatever the sign.
    let head: &[u8; 19] = text.get(..19)?.try_into().ok()?;
    let negative = head[0] == b'-';
    let start = usize::from(negative);
    // The digit and the point in one test: XOR maps b'0'..=b'9' (and only them) to 0..=9 in
    // the low byte and b'.' (and only it) to 0 in the high one.
    let lead = u16::from_le_bytes([head[start], head[start + 1]]) ^ 0x2e30;
    if lead > 9 {
        return None;
    }
    let frac_at = start + 2;
    let f = u128::from_le_bytes(head[frac_at..frac_at + 16].try_into().ok()?);
    // Byte k of the fraction is bits 8k..8k+8 of `f`: `tz / 8` digits come before the first
    // non-digit byte.
    let frac_len = (first_non_digit(f).trailing_zeros() / 8) as usize;
    // The number must end at its comma (this also keeps out exponents).
    if !(1..=14).contains(&frac_len) || head[frac_at + frac_len] != b',' {
        return None;
    }
    // Digit values (XOR, unlike subtraction, never borrows across bytes), shifted up so the
    // last digit is byte 15: the low bytes become leading zeros and whatever follows the
    // number falls off the top.
    let aligned = (f ^ 0x3030_3030_3030_3030_3030_3030_3030_3030) << (8 * (16 - frac_len));
    // F = (first eight of 16 digits) * 10^8 + (last eight)
    let fraction =
        eight_digits(aligned as u64) * 100_000_000 + eight_digits((aligned >> 64) as u64);
    let m = u64::from(lead) * POW10_INT[frac_len] + fraction;
    // m < 2^53: the signed conversion is the same, and one instruction.
    let x = m as i64 as f64 / POW10[frac_len];
    // Halfway between two f32s: see fast_f32.
    if x.to_bits() & 0x1fff_ffff == 0x1000_0000 {
        return None;
    }
    // The sign by its bit, not a branch: weights are positive or negative at random.
    let value = f32::from_bits((x as f32).to_bits() | (u32::from(negative) << 31));
    Some((value, frac_at + frac_len + 1))
}

/// Powers of ten as integers, `10^k` for k in 0..=14 (the most fraction digits [`wide_f32`]
/// takes).
const POW10_INT: [u64; 15] = {
    let mut table = [1u64; 15];
    let mut k = 1;
    while k < table.len() {
        table[k] = table[k - 1] * 10;
        k += 1;
    }
    table
};

/// Marks the first byte of `w` (lowest first) that is not an ASCII digit with its high bit:
/// `tz / 8` of the result counts the digits before it (16 when all are digits). A byte `b`
/// is a digit iff neither `b + 0x46` (>= 0x80 iff `b > 0x39`) nor `b - 0x30` (>= 0x80, by
/// borrow or wrapping, iff `b < 0x30` or `b >= 0xb0`) has its high bit set; a byte from
/// 0x80 to 0xaf sets it in `b + 0x46`. Carries and borrows run only from lower to higher
/// bytes, and digits create none, so the bytes up to the first non-digit are judged
/// exactly; bytes after it may be marked wrongly, but `tz` never looks at them.
#[inline(always)]
fn first_non_digit(w: u128) -> u128 {
    let above_9 = w.wrapping_add(0x4646_4646_4646_4646_4646_4646_4646_4646);
    let below_0 = w.wrapping_sub(0x3030_3030_3030_3030_3030_3030_3030_3030);
    (above_9 | below_0) & 0x8080_8080_8080_8080_8080_8080_8080_8080
}

/// The value of eight decimal digits held one per byte (0..=9), the first, most significant,
/// in the lowest byte: pairs `10a + b`, then quads `100p + q`, then `10^4 h + l`, each by a
/// multiply and a shift (as Rust's own float parser does).
#[inline(always)]
fn eight_digits(b: u64) -> u64 {
    let v = b.wrapping_mul(10).wrapping_add(b >> 8);
    let v1 = (v & 0x0000_00ff_0000_00ff).wrapping_mul(0x000f_4240_0000_0064);
    let v2 = ((v >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(0x0000_2710_0000_0001);
    u64::from((v1.wrapping_add(v2) >> 32) as u32)
}

/// The x86-64 path for the writer's form: [`wide_f32`] with the digit checks, the digits'
/// count and their value in 16-byte vectors (SSE2 compares and `movemask`, an SSSE3 shuffle,
/// and the `pmaddubsw`/`pmaddwd` reduction of 16 digits), compiled for AVX2 and BMI so the
/// vector code needs no register copies and the masks' shifts no `cl`. CPUs without them
/// take [`parse_numbers_portable`].
#[cfg(target_arch = "x86_64")]
mod wide_x86 {
    use std::arch::x86_64::*;

    use super::POW10;

    /// Whether the CPU has the features [`parse_numbers`] and [`wide_f32`] are compiled for.
    #[inline]
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
    }

    /// [`super::parse_numbers`] with this module's [`wide_f32`].
    #[target_feature(enable = "avx2,bmi1,bmi2")]
    pub(super) fn parse_numbers(
        piece: &[u8],
        out: &mut [f32],
    ) -> std::result::Result<(), (usize, String)> {
        // The closure inherits this function's target features, so the call is safe.
        super::parse_numbers_with(piece, out, |text| wide_f32(text))
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

    /// [`super::wide_f32`] in 16-byte vectors: the writer's form `-?D.F+,` with one integer
    /// digit and at most 13 fraction digits (12 after a minus sign), as the 16 bytes from the
    /// number's first hold its comma. The value is `m / 10^|F|` with `m = D * 10^|F| + F`,
    /// exact as in [`super::fast_f32`]. Returns `(value, bytes used)`, the comma included,
    /// or `None` for anything else (fewer than 16 bytes of text, say); the portable code then
    /// parses it, and agrees wherever both answer.
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
}

/// Whether `text` is a number in JSON's grammar, `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`
/// (the float parser alone would also take `.5`, `+1`, `01`, `1.` and `inf`).
fn is_json_number(text: &[u8]) -> bool {
    let digits = |i: usize| i + text[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut i = usize::from(text.first() == Some(&b'-'));
    match text.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i),
        _ => return false,
    }
    if text.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return false;
        }
        i = end;
    }
    if matches!(text.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(text.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return false;
        }
        i = end;
    }
    i == text.len()
}

/// The fast path of loading. serde must scan every byte of a raw value to find its end, and
/// the weights are nearly all of a model file; so this copies the document with the inside of
/// each tensor's `"data"` array replaced by an index (`[0]`, `[1]`, ...) and returns where
/// each inside was. serde then scans only the small rest, and [`parse_f32_body`] reads each
/// array once, on all cores, checking the JSON grammar of its numbers itself. Returns `None`
/// when the layout is not the expected one (a truncated file, say); [`from_json`] then takes
/// the plain path, whose error messages point into the whole file.
fn cut_weight_arrays(bytes: &[u8]) -> Option<(Vec<u8>, Vec<std::ops::Range<usize>>)> {
    let mut reduced = Vec::with_capacity(bytes.len().min(1 << 20));
    let mut bodies = Vec::new();
    let mut copied = 0;
    // Nesting of objects and arrays: the root is 1, "weights" 2, each tensor 3.
    let mut depth = 0usize;
    let mut i = 0;
    // Byte by byte outside strings (only the small sections are walked so: strings are
    // skipped with memchr, weight arrays jumped over).
    while i < bytes.len() {
        let at = i;
        match bytes[at] {
            b'"' => {
                // The string's end: the next quote not escaped by a backslash.
                let mut j = at + 1;
                loop {
                    j += memchr::memchr2(b'"', b'\\', &bytes[j..])?;
                    if bytes[j] == b'\\' {
                        // Skip the escaped character; a backslash at the end is a cut file.
                        j += 2;
                        if j > bytes.len() {
                            return None;
                        }
                    } else {
                        break;
                    }
                }
                i = j + 1;
                if depth != 3 || &bytes[at..i] != b"\"data\"" {
                    continue;
                }
                let colon = skip_whitespace(bytes, i);
                if bytes.get(colon) != Some(&b':') {
                    continue;
                }
                let open = skip_whitespace(bytes, colon + 1);
                if bytes.get(open) != Some(&b'[') {
                    continue;
                }
                let close = open + 1 + memchr::memchr(b']', &bytes[open + 1..])?;
                reduced.extend_from_slice(&bytes[copied..=open]);
                reduced.extend_from_slice(bodies.len().to_string().as_bytes());
                bodies.push(open + 1..close);
                copied = close;
                i = close + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                i = at + 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                i = at + 1;
            }
            _ => i = at + 1,
        }
    }
    reduced.extend_from_slice(&bytes[copied..]);
    Some((reduced, bodies))
}

/// Serializes a model to its JSON text.
pub fn to_json(model: &SentimentModel) -> Result<Vec<u8>> {
    let file = FileOut {
        format: FORMAT,
        version: VERSION,
        config: &model.classifier.config,
        tokenizer: model.tokenizer.config(),
        vocab: model.vocab.tokens(),
        weights: WeightsOut(&model.classifier.config, &model.classifier.params),
        training: &model.training,
    };
    let mut bytes = serde_json::to_vec(&file).map_err(|e| Error::option("model", e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes a model to `path` atomically (see the module docs). Refuses non-finite weights.
pub fn save(model: &SentimentModel, path: &Path) -> Result<()> {
    if !model.classifier.params.all_finite() {
        return Err(Error::Model {
            path: path.to_path_buf(),
            message: "refusing to save weights that are NaN or infinite".into(),
        });
    }
    let bytes = to_json(model)?;
    crate::files::write_atomic(path, &bytes, "model file")
}

/// Reads and validates a model file.
pub fn load(path: &Path) -> Result<SentimentModel> {
    let bytes = read_file(path, MAX_MODEL_BYTES, "model file")?;
    from_json(&bytes).map_err(|message| Error::Model {
        path: path.to_path_buf(),
        message,
    })
}

/// Reads a whole JSON file (a model or a checkpoint) of at most `limit` bytes. A large regular
/// file is read in two halves at once: its buffer is fresh memory, and filling it costs a page
/// fault per 4 KiB (about 2.7 us each on a VM, 15 ms of the 20 ms it takes to read a 23 MB
/// model), which two threads take in parallel. Anything else (a pipe, a device, a file that
/// changed length) is read plainly up to the limit; a stream that does not start like JSON
/// (`/dev/zero`) is refused after its first block.
pub fn read_file(path: &Path, limit: u64, role: Role) -> Result<Vec<u8>> {
    let fail = |e| Error::io_role("cannot read", role, path, e);
    let file = File::open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if meta.is_dir() {
        return Err(fail(std::io::Error::other(
            "it is a directory; give the path of a file",
        )));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(Error::TooLarge {
            role,
            path: path.to_path_buf(),
            what: "the file",
            limit,
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let len = usize::try_from(meta.len()).unwrap_or(0);
        if meta.is_file() && len >= PARALLEL_BYTES && rayon::current_num_threads() > 1 {
            // Zeroed memory comes from calloc, so the pages are first touched by the reads.
            let mut bytes = vec![0u8; len];
            let (head, tail) = bytes.split_at_mut(len / 2);
            let (a, b) = rayon::join(
                || file.read_exact_at(head, 0),
                || file.read_exact_at(tail, (len / 2) as u64),
            );
            // All of it: nothing past the length read at the start.
            if a.is_ok() && b.is_ok() && matches!(file.read_at(&mut [0u8], len as u64), Ok(0)) {
                return Ok(bytes);
            }
        }
    }
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let start = reader.fill_buf().map_err(fail)?;
    let first = start
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(start)
        .iter()
        .find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err(Error::Model {
            path: path.to_path_buf(),
            message: format!(
                "not valid JSON (it starts with byte 0x{:02x}); give a {role} written by \
                 rnn-sentiment",
                first.copied().unwrap_or_default()
            ),
        });
    }
    crate::files::read_limited_from(reader, path, limit, role)
}

/// Parses and validates model JSON; the error says which part is wrong.
pub fn from_json(bytes: &[u8]) -> std::result::Result<SentimentModel, String> {
    if let Some((reduced, bodies)) = cut_weight_arrays(bytes) {
        if let Ok(model) = parse_model(&reduced, Some((bytes, &bodies))) {
            return Ok(model);
        }
        // Whatever is wrong, the plain path says it with positions in the whole file.
    }
    parse_model(bytes, None)
}

/// [`from_json`] without the fast path: the reference it must agree with (tests and the
/// fuzzer compare them).
#[doc(hidden)]
pub fn from_json_plain(bytes: &[u8]) -> std::result::Result<SentimentModel, String> {
    parse_model(bytes, None)
}

/// The file's bytes and the ranges of the weight arrays cut out of it by [`cut_weight_arrays`].
type CutArrays<'a> = (&'a [u8], &'a [std::ops::Range<usize>]);

/// Everything in a model file but the weights' values, read and checked.
struct Head<'a> {
    config: ModelConfig,
    tokenizer: TokenizerConfig,
    vocab: Vocab,
    /// The weights by name, their values still JSON text (or, on the fast path, the index of
    /// a cut-out array).
    weights: BTreeMap<String, TensorIn<'a>>,
    training: TrainingInfo,
}

/// Parses the document and checks every section but the weights' values.
fn parse_head(bytes: &[u8]) -> std::result::Result<Head<'_>, String> {
    let file: FileIn = match serde_json::from_slice(bytes) {
        Ok(file) => file,
        Err(e) => {
            if e.is_eof() {
                return Err(format!(
                    "the file is truncated ({e}); it may be from an interrupted copy"
                ));
            }
            if e.is_syntax() {
                return Err(format!("not valid JSON ({e})"));
            }
            // Valid JSON of another shape: say so by format and version when those are off.
            if let Ok(h) = serde_json::from_slice::<Header>(bytes) {
                check_header(
                    h.format.as_ref().and_then(|f| f.as_str()),
                    h.version.as_ref(),
                )?;
            }
            return Err(format!("not a model file ({e})"));
        }
    };
    check_header(
        file.format.as_deref(),
        file.version.map(serde_json::Value::from).as_ref(),
    )?;
    fn section<'a, T: Deserialize<'a>>(
        raw: Option<&'a RawValue>,
        name: &str,
    ) -> std::result::Result<T, String> {
        let raw = raw.ok_or_else(|| format!("no \"{name}\" section"))?;
        serde_json::from_str(raw.get()).map_err(|e| format!("bad \"{name}\" section: {e}"))
    }
    let config: ModelConfig = section(file.config, "config")?;
    config
        .validate()
        .map_err(|m| format!("bad \"config\" section: {m}"))?;
    let tokenizer: TokenizerConfig = section(file.tokenizer, "tokenizer")?;
    tokenizer
        .validate()
        .map_err(|e| format!("bad \"tokenizer\" section: {e}"))?;
    let tokens: Vec<String> = section(file.vocab, "vocab")?;
    if tokens.len() != config.vocab_size {
        return Err(format!(
            "the vocabulary has {} entries but config.vocab_size is {}",
            tokens.len(),
            config.vocab_size
        ));
    }
    let vocab = Vocab::from_tokens(tokens).map_err(|m| format!("bad \"vocab\": {m}"))?;
    let weights = file.weights.ok_or("no \"weights\" section")?.0;
    let training: TrainingInfo = match file.training {
        Some(_) => section(file.training, "training")?,
        None => TrainingInfo::default(),
    };
    Ok(Head {
        config,
        tokenizer,
        vocab,
        weights,
        training,
    })
}

fn parse_model(
    bytes: &[u8],
    cut: Option<CutArrays<'_>>,
) -> std::result::Result<SentimentModel, String> {
    // On the fast path every cut-out array is parsed, on all cores, while the rest of the
    // document is read and checked (a cold start waited for one, then the other); the loop
    // below then takes each weight's values by its index. A file that turns out to be wrong
    // goes to the plain path anyway, which checks shapes before it parses any array.
    let (head, mut parsed) = match cut {
        Some((original, bodies)) => rayon::join(
            || parse_head(bytes),
            || {
                bodies
                    .par_iter()
                    .map(|body| Some(parse_f32_body(&original[body.clone()])))
                    .collect::<Vec<_>>()
            },
        ),
        None => (parse_head(bytes), Vec::new()),
    };
    let Head {
        config,
        tokenizer,
        vocab,
        mut weights,
        training,
    } = head?;

    let shapes = expected_shapes(&config);
    let mut tensors = Vec::with_capacity(shapes.len());
    for (name, shape) in &shapes {
        let t = weights
            .remove(name)
            .ok_or_else(|| format!("weight {name:?} is missing"))?;
        let expected: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        if t.shape != expected {
            return Err(format!(
                "weight {name:?} has shape {:?}, but the config (cell {}, V={}, E={}, H={}, {} layer(s), D={}, pooling {}) needs {:?}",
                t.shape,
                config.cell.name(),
                config.vocab_size,
                config.embed_dim,
                config.hidden_dim,
                config.layers,
                config.directions(),
                config.pooling.name(),
                expected
            ));
        }
        let n: usize = shape.iter().product();
        let data = match cut {
            // The array holds the index of the cut-out inside, each used once.
            Some(_) => {
                let index: usize = serde_json::from_str::<[usize; 1]>(t.data.get())
                    .map_err(|_| format!("weight {name:?}: not a cut array"))?[0];
                parsed
                    .get_mut(index)
                    .and_then(Option::take)
                    .ok_or_else(|| format!("weight {name:?}: not a cut array"))?
            }
            None => parse_f32_array(t.data.get()),
        }
        .map_err(|m| format!("weight {name:?}: {m}"))?;
        if data.len() != n {
            return Err(format!(
                "weight {name:?} has {} values but its shape {:?} needs {n}",
                data.len(),
                t.shape
            ));
        }
        tensors.push(Tensor {
            shape: shape.clone(),
            data,
        });
    }
    if let Some(extra) = weights.keys().next() {
        return Err(format!(
            "unexpected weight {extra:?}; the config (cell {}, {} layer(s), {}) has {}",
            config.cell.name(),
            config.layers,
            if config.bidirectional {
                "bidirectional"
            } else {
                "one direction"
            },
            shapes
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // A "data" array cut from somewhere other than a weight was never checked: let the plain
    // path judge such a file.
    if parsed.iter().any(Option::is_some) {
        return Err("a \"data\" array outside the weights".into());
    }
    Ok(SentimentModel {
        tokenizer: Tokenizer::new(tokenizer),
        vocab,
        classifier: Classifier {
            config,
            params: Params::from_tensors(tensors),
        },
        training,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64, the tests' stream of pseudo-random bits: seeded, so every run checks the
    /// same numbers.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

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
    fn the_fast_float_path_agrees_with_the_general_parser() {
        // Every form a writer may use for an f32: serde_json's (ryu's shortest, exponent for
        // small and large values), Display's plain decimals, and LowerExp.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut checked = 0;
        for k in 0..200_000 {
            xorshift(&mut state);
            let x = match k % 3 {
                0 => f32::from_bits(state as u32),
                1 => (state as u32 as f32 / u32::MAX as f32 - 0.5) * 0.2,
                _ => ((state >> 40) as f32 - 8e6) * 1e-3,
            };
            if !x.is_finite() {
                continue;
            }
            for text in [
                serde_json::to_string(&x).unwrap(),
                format!("{x}"),
                format!("{x:e}"),
            ] {
                let expected: f32 = fast_float2::parse(&text).unwrap();
                if let Some((value, used)) = fast_f32(text.as_bytes()) {
                    assert_eq!(used, text.len(), "{text}");
                    assert_eq!(value.to_bits(), expected.to_bits(), "{text}");
                    checked += 1;
                }
                assert_eq!(parse_f32_array(&format!("[{text}]")).unwrap(), [expected]);
            }
        }
        assert!(checked > 300_000, "the fast path took only {checked}");
        // Decimals exactly halfway between two f32s, and just off it, round to even as the
        // general parser does: 1 + 2^-24 lies halfway between 1 and 1 + 2^-23.
        for text in [
            "1.000000059604644775390625",
            "1.0000000596046448",
            "16777217",
            "16777219",
        ] {
            let expected: f32 = fast_float2::parse(text).unwrap();
            assert_eq!(
                parse_f32_array(&format!("[{text}]")).unwrap(),
                [expected],
                "{text}"
            );
        }
        assert_eq!(
            fast_f32(b"16777217"),
            None,
            "halfway: left to the general parser"
        );
        // Not JSON: neither path takes these.
        for text in [
            ".5", "+1", "01", "1.", "1e", "-", "1.e5", "inf", "NaN", "0x10", "--1",
        ] {
            assert!(parse_f32_array(&format!("[{text}]")).is_err(), "{text}");
        }
        assert_eq!(
            fast_f32(b"-0").map(|(v, _)| v.to_bits()),
            Some((-0.0f32).to_bits())
        );
        assert_eq!(fast_f32(b"1E+2,"), Some((100.0, 4)));
    }

    #[test]
    fn the_fast_loading_path_agrees_with_the_plain_one() {
        let config = ModelConfig {
            cell: crate::config::CellKind::Gru,
            vocab_size: 6,
            embed_dim: 3,
            hidden_dim: 2,
            layers: 1,
            bidirectional: true,
            pooling: crate::config::Pooling::Max,
            forget_bias: None,
            threshold: 0.5,
        };
        let mut rng = crate::rng::Rng::new(3);
        // Vocabulary entries that look like the structure the fast path looks for.
        let tokens = [
            "<pad>",
            "<unk>",
            "\"data\":[",
            "]}\\",
            "{\"data\": [1]}",
            "data",
        ];
        let model = SentimentModel {
            tokenizer: Tokenizer::new(TokenizerConfig::default()),
            vocab: Vocab::from_tokens(tokens.iter().map(|t| t.to_string()).collect()).unwrap(),
            classifier: Classifier::new(config, &mut rng),
            training: TrainingInfo::default(),
        };
        let bytes = to_json(&model).unwrap();
        let (reduced, bodies) = cut_weight_arrays(&bytes).expect("the writer's layout");
        assert_eq!(
            bodies.len(),
            expected_shapes(&model.classifier.config).len()
        );
        assert!(reduced.len() < bytes.len());
        let fast = from_json(&bytes).unwrap();
        assert_eq!(to_json(&fast).unwrap(), bytes);
        assert_eq!(to_json(&from_json_plain(&bytes).unwrap()).unwrap(), bytes);
        // Pretty-printed (other whitespace) loads the same.
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let pretty = serde_json::to_vec_pretty(&value).unwrap();
        assert!(cut_weight_arrays(&pretty).is_some());
        assert_eq!(to_json(&from_json(&pretty).unwrap()).unwrap(), bytes);
        // Damage: both paths refuse, with the plain path's message.
        let text = String::from_utf8(bytes.clone()).unwrap();
        for bad in [
            text.replacen("\"data\":[", "\"data\":[.5,", 1),
            text.replacen("\"data\":[", "\"data\":[[", 1),
            text[..text.len() / 2].to_string(),
            text.replacen(
                "\"training\":{",
                "\"training\":{\"x\":{\"y\":{\"data\":[1,\"",
                1,
            ),
        ] {
            let fast = from_json(bad.as_bytes()).unwrap_err();
            assert_eq!(fast, from_json_plain(bad.as_bytes()).unwrap_err());
        }
    }

    #[test]
    fn large_arrays_split_into_pieces_give_the_same_values() {
        // Over PARALLEL_BYTES, so the parallel path runs; shortest-form f32 text round-trips.
        let values: Vec<f32> = (0..300_000)
            .map(|i| ((i as f32) * 0.618).sin() * 3.0)
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

    /// The value of `text` by the general parser (correctly rounded).
    fn reference(text: &str) -> f32 {
        fast_float2::parse(text).unwrap()
    }

    #[test]
    fn the_wide_path_agrees_with_the_general_parser() {
        // -?D.F with 0..=17 fraction digits (leading zeros included), each followed by what
        // may follow a number; padded or not, so some texts are shorter than the 19 bytes the
        // wide path needs.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut taken = 0;
        for round in 0..20_000 {
            xorshift(&mut state);
            let frac_len = round % 18;
            let zeros = (state as usize >> 8) % (frac_len + 1);
            let digits = format!("{:017}", state % 100_000_000_000_000_000);
            let fraction = format!("{}{}", "0".repeat(zeros), &digits[..frac_len - zeros]);
            let sign = if state & 1 == 0 { "" } else { "-" };
            let number = format!("{sign}{}.{fraction}", (state >> 4) % 10);
            for (after, pad) in [
                (",", "0.5,0.25,0.125"),
                (",", ""),
                ("]", "0.5,0.25,0.125"),
                (" ,", "0.5,0.25,0.125"),
                (", ", "0.5,0.25,0.125"),
                ("e-3,", "0.5,0.25,0.125"),
                ("E+2,", "0.5,0.25,0.125"),
                ("5,", "0.5,0.25,0.125"),
                ("", ""),
            ] {
                let text = format!("{number}{after}{pad}");
                let Some((value, used)) = wide_f32(text.as_bytes()) else {
                    continue;
                };
                // Only a bare comma ends a number the wide path takes, and it is included.
                let end = used - 1;
                assert_eq!(&text[end..used], ",", "{text}");
                if after.starts_with(',') {
                    assert_eq!(end, number.len(), "{text}");
                }
                assert_eq!(value.to_bits(), reference(&text[..end]).to_bits(), "{text}");
                assert_eq!(fast_f32(text.as_bytes()), Some((value, end)), "{text}");
                taken += 1;
            }
        }
        assert!(taken > 10_000, "the wide path took only {taken}");
        // Signed zero keeps its sign; exponents, integers and two integer digits are left to
        // the bytewise path; a fraction of 15 digits is too long.
        let pad = "1.0,1.0,1.0,1.0";
        let wide = |t: &str| wide_f32(format!("{t},{pad}").as_bytes());
        assert_eq!(
            wide("-0.0").map(|(v, n)| (v.to_bits(), n)),
            Some(((-0.0f32).to_bits(), 5))
        );
        assert_eq!(wide("0.0"), Some((0.0, 4)));
        assert_eq!(wide("9.99999999999999"), Some((10.0, 17)));
        for t in [
            "1e5",
            "1.5e5",
            "10.5",
            "00.5",
            "15",
            "0.123456789012345",
            "-",
            "--1.5",
        ] {
            assert_eq!(wide(t), None, "{t}");
        }
    }

    /// The x86 SIMD wide path, checked to be available on this CPU.
    #[cfg(target_arch = "x86_64")]
    fn wide_simd(text: &[u8]) -> Option<(f32, usize)> {
        assert!(wide_x86::available(), "the test needs AVX2 and BMI");
        // SAFETY: the CPU has the features (asserted just above).
        unsafe { wide_x86::wide_f32(text) }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_simd_wide_path_takes_what_it_should_and_agrees() {
        if !wide_x86::available() {
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
    #[cfg(target_arch = "x86_64")]
    fn the_simd_path_leaves_halfway_cases_to_the_exact_parser() {
        if !wide_x86::available() {
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

    #[test]
    fn first_non_digit_is_exact_for_every_byte() {
        // Any byte at any position, after digits and before anything (carries go upwards).
        for b in 0..=255u8 {
            for at in 0..16 {
                let mut bytes = [b'7'; 16];
                bytes[at] = b;
                for k in at + 1..16 {
                    bytes[k] = [0x00, 0xff, b'/', b':', 0x80, 0xaf, 0xb0][k % 7];
                }
                let found = first_non_digit(u128::from_le_bytes(bytes)).trailing_zeros() / 8;
                let expected = if b.is_ascii_digit() {
                    // The first of the filler bytes, none of which is a digit.
                    (at + 1) as u32
                } else {
                    at as u32
                };
                assert_eq!(found, expected, "byte {b:#x} at {at}");
            }
        }
        assert_eq!(first_non_digit(u128::from_le_bytes([b'0'; 16])), 0);
    }

    /// Decimals with `digits` fraction digits that are exactly, in f64, the midpoint of two
    /// neighbouring f32s in [1, 2): the midpoints of `candidates` f32s, rounded to `digits`
    /// places, kept when the rounding was exact.
    fn halfway_texts(candidates: u32, digits: usize) -> impl Iterator<Item = String> {
        (0..candidates).filter_map(move |k| {
            let low = f32::from_bits(0x3f80_0000 + k * 397);
            let midpoint = (f64::from(low) + f64::from(f32::from_bits(low.to_bits() + 1))) / 2.0;
            let text = format!("{midpoint:.digits$}");
            (text.parse::<f64>().unwrap() == midpoint).then_some(text)
        })
    }

    #[test]
    fn halfway_cases_with_few_digits_go_to_the_exact_parser() {
        // Decimals of at most 15 digits whose nearest f64 is exactly halfway between two
        // f32s: rounding that f64 again would be wrong half of the time. Found by rounding
        // f32 midpoints to 14 fraction digits (about 2% land on the midpoint in f64).
        let mut found = 0;
        for text in halfway_texts(20_000, 14) {
            let padded = format!("{text},1.0,1.0,1.0,1.0");
            assert_eq!(wide_f32(padded.as_bytes()), None, "{text}");
            let array = format!("[{text},{text},{text}]");
            let expected = reference(&text);
            assert_eq!(parse_f32_array(&array).unwrap(), [expected; 3], "{text}");
            found += 1;
        }
        assert!(found > 50, "only {found} halfway cases");
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

    #[test]
    fn files_read_in_halves_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            1000,
            PARALLEL_BYTES,
            PARALLEL_BYTES + 1,
            3 * PARALLEL_BYTES + 7,
        ] {
            // JSON files start with `{`; what follows is any bytes.
            let bytes: Vec<u8> = (0..len)
                .map(|i| if i == 0 { b'{' } else { (i * 7 % 251) as u8 })
                .collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(
                read_file(&path, 1 << 30, "model file").unwrap(),
                bytes,
                "{len}"
            );
        }
        let missing = dir.path().join("missing");
        let e = read_file(&missing, 1 << 30, "model file").unwrap_err();
        assert!(e.to_string().starts_with("cannot read model file"), "{e}");
    }

    #[test]
    fn json_files_are_read_within_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, "{\"a\": 1}").unwrap();
        assert!(read_file(&path, 8, "model file").is_ok());
        let e = read_file(&path, 7, "checkpoint").unwrap_err().to_string();
        assert!(
            e.contains("checkpoint") && e.contains("limit of 7 bytes"),
            "{e}"
        );
        std::fs::write(&path, "a,b\n").unwrap();
        let e = read_file(&path, 100, "model file").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        // An endless stream that is not JSON is refused after its first block.
        if std::path::Path::new("/dev/zero").exists() {
            let e = read_file(std::path::Path::new("/dev/zero"), 1 << 40, "model file")
                .unwrap_err()
                .to_string();
            assert!(e.contains("0x00"), "{e}");
        }
    }
}
