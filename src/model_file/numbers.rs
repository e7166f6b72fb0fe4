//! One number of a weight array at a time: JSON text to the nearest `f32`.
//!
//! Four levels, fastest first: [`wide_f32`] takes the writer's usual form `-?D.F+,` without
//! a branch on its length (SWAR: eight or sixteen digits per integer operation);
//! [`fast_f32`] any number of at most 15 digits and an exponent within ±22, exactly, in one
//! pass; the general parser (`fast_float2`) everything else, after [`is_json_number`] has
//! checked the grammar. The x86 vector form of [`wide_f32`] is in `x86.rs`;
//! [`parse_numbers_with`] is the loop over one piece of an array that both use (`arrays.rs`
//! cuts arrays into pieces).

/// The index of the first byte at or after `i` that is not JSON whitespace (or the end).
pub(super) fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// [`parse_numbers`](super::arrays::parse_numbers) with the portable (SWAR) [`wide_f32`], for
/// any CPU.
pub(super) fn parse_numbers_portable(
    piece: &[u8],
    out: &mut [f32],
) -> std::result::Result<(), (usize, String)> {
    parse_numbers_with(piece, out, wide_f32)
}

/// The loop of [`parse_numbers`](super::arrays::parse_numbers), with `wide` for the writer's
/// form `-?D.F+,` (a number and its comma; `None` for anything else). Inlined into each
/// caller, so that `wide` is compiled with the caller's target features.
#[inline(always)]
pub(super) fn parse_numbers_with(
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
pub(super) const POW10: [f64; 23] = [
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
pub(super) fn fast_f32(text: &[u8]) -> Option<(f32, usize)> {
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
pub(super) fn wide_f32(text: &[u8]) -> Option<(f32, usize)> {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model_file::arrays::parse_f32_array;

    /// xorshift64, the tests' stream of pseudo-random bits: seeded, so every run checks the
    /// same numbers.
    pub(in crate::model_file) fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// The value of `text` by the general parser (correctly rounded).
    pub(in crate::model_file) fn reference(text: &str) -> f32 {
        fast_float2::parse(text).unwrap()
    }

    /// Decimals with `digits` fraction digits that are exactly, in f64, the midpoint of two
    /// neighbouring f32s in [1, 2): the midpoints of `candidates` f32s, rounded to `digits`
    /// places, kept when the rounding was exact.
    pub(in crate::model_file) fn halfway_texts(
        candidates: u32,
        digits: usize,
    ) -> impl Iterator<Item = String> {
        (0..candidates).filter_map(move |k| {
            let low = f32::from_bits(0x3f80_0000 + k * 397);
            let midpoint = (f64::from(low) + f64::from(f32::from_bits(low.to_bits() + 1))) / 2.0;
            let text = format!("{midpoint:.digits$}");
            (text.parse::<f64>().unwrap() == midpoint).then_some(text)
        })
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
}
