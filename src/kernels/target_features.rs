//! Test-only: the crate's `#[target_feature]` functions and the run-time checks that guard
//! them name the same CPU features (house style 12).
//!
//! A function compiled with `#[target_feature(enable = "...")]` may use every feature it
//! names, so calling it on a CPU without one of them is undefined behaviour. The `// SAFETY:`
//! comment of each call says a run-time check came first; these tests make that true by
//! reading the source text. The convention they enforce:
//!
//! - every run-time check is one `&&` chain of `is_x86_feature_detected!` in a small guard
//!   function (`available`, `has_avx2`, ...), placed just above the functions it guards;
//! - each `#[target_feature]` function enables exactly the features of the nearest check
//!   above it in its file, and every check guards at least one function;
//! - every call of such a function inside an `unsafe` block comes just after a call of its
//!   guard (at most three lines of code before the block). Calls that need no `unsafe` are
//!   made from functions compiled for the callee's features, which the compiler checks.

use std::collections::BTreeSet;

use regex::Regex;

/// A run-time check: one `&&` chain of `is_x86_feature_detected!`.
struct Check {
    line: usize,
    /// The function whose body holds the chain (the guard).
    guard: Option<String>,
    features: BTreeSet<String>,
}

/// A function with `#[target_feature(enable = "...")]`.
struct Enabled {
    file: String,
    line: usize,
    name: String,
    /// The guard function of the nearest check above it in its file.
    guard: Option<String>,
}

/// The source with comment lines and the insides of string and character literals blanked
/// (lines kept), so that braces, names and feature lists are only found in code.
fn code_lines(source: &str) -> Vec<String> {
    let literal = Regex::new(r#""(?:[^"\\]|\\.)*"|b?'(?:[^'\\]|\\.)'"#).expect("regex");
    source
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("//") {
                return String::new();
            }
            // Literals keep their quotes and feature names (`"avx2"` stays), lose braces.
            literal
                .replace_all(line, |c: &regex::Captures| c[0].replace(['{', '}'], " "))
                .into_owned()
        })
        .collect()
}

/// The 1-based line of the nearest `fn` at or above `line` (1-based), and its name.
fn enclosing_fn(code: &[String], line: usize) -> Option<String> {
    let fn_name = Regex::new(r"\bfn\s+(\w+)").expect("regex");
    code[..line]
        .iter()
        .rev()
        .find_map(|l| fn_name.captures(l).map(|c| c[1].to_string()))
}

/// The run-time checks of one file, in order.
fn checks(code: &[String]) -> Vec<Check> {
    let text = code.join("\n");
    let detected = Regex::new(r#"is_x86_feature_detected!\(\s*"([^"]*)"\s*\)"#).expect("regex");
    let mut checks: Vec<Check> = Vec::new();
    let mut previous_end = None;
    for m in detected.captures_iter(&text) {
        let whole = m.get(0).expect("match");
        let line = text[..whole.start()].matches('\n').count() + 1;
        // Same chain when only `&&` (and the macro's path) lies between the two.
        let joined = previous_end.is_some_and(|end: usize| {
            let gap: String = text[end..whole.start()]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            gap == "&&" || gap == "&&std::arch::"
        });
        if !joined {
            checks.push(Check {
                line,
                guard: enclosing_fn(code, line),
                features: BTreeSet::new(),
            });
        }
        let check = checks.last_mut().expect("pushed above");
        check.features.insert(m[1].to_string());
        previous_end = Some(whole.end());
    }
    checks
}

/// Checks the rules of the module docs over `sources` (path, text), taken together so that a
/// call in one file of a function in another is checked. Returns how many `#[target_feature]`
/// functions were checked, or every rule broken.
pub(crate) fn check_sources(sources: &[(&str, &str)]) -> Result<usize, Vec<String>> {
    let attribute =
        Regex::new(r#"^\s*#\[target_feature\(enable = "([^"]*)"\)\]\s*$"#).expect("regex");
    let fn_name = Regex::new(r"\bfn\s+(\w+)").expect("regex");
    let mut errors = Vec::new();
    let mut enabled: Vec<Enabled> = Vec::new();
    let files: Vec<(&str, Vec<String>, Vec<&str>)> = sources
        .iter()
        .map(|&(path, source)| (path, code_lines(source), source.lines().collect()))
        .collect();
    for (path, code, raw) in &files {
        let checks = checks(code);
        let mut guarded = vec![false; checks.len()];
        for (i, line) in code.iter().enumerate() {
            if !line.contains("target_feature(") {
                continue;
            }
            let Some(features) = attribute.captures(raw[i]) else {
                errors.push(format!(
                    "{path}:{}: a target_feature attribute not of the form \
                     #[target_feature(enable = \"a,b\")] on one line",
                    i + 1
                ));
                continue;
            };
            let Some(name) = code[i + 1..]
                .iter()
                .find_map(|l| fn_name.captures(l).map(|c| c[1].to_string()))
            else {
                errors.push(format!("{path}:{}: no function after the attribute", i + 1));
                continue;
            };
            let features: BTreeSet<String> = features[1]
                .split(',')
                .map(|f| f.trim().to_string())
                .collect();
            let guard = checks.iter().rposition(|c| c.line <= i);
            match guard {
                None => errors.push(format!(
                    "{path}:{}: `{name}` enables {features:?} but no run-time check comes \
                     before it in the file",
                    i + 1
                )),
                Some(k) => {
                    guarded[k] = true;
                    let check = &checks[k];
                    if check.features != features {
                        errors.push(format!(
                            "{path}:{}: `{name}` enables {features:?} but its check at line {} \
                             names {:?} (enabled, not checked: {:?}; checked, not enabled: {:?})",
                            i + 1,
                            check.line,
                            check.features,
                            features.difference(&check.features).collect::<Vec<_>>(),
                            check.features.difference(&features).collect::<Vec<_>>(),
                        ));
                    }
                    if check.guard.is_none() {
                        errors.push(format!(
                            "{path}:{}: the check guarding `{name}` is not in a function",
                            check.line
                        ));
                    }
                }
            }
            enabled.push(Enabled {
                file: path.to_string(),
                line: i + 1,
                name,
                guard: guard.and_then(|k| checks[k].guard.clone()),
            });
        }
        for (check, guarded) in checks.iter().zip(guarded) {
            if !guarded {
                errors.push(format!(
                    "{path}:{}: a run-time check that guards no target_feature function below it",
                    check.line
                ));
            }
        }
    }
    for (path, code, _) in &files {
        errors.extend(unguarded_calls(path, code, &enabled));
    }
    if errors.is_empty() {
        Ok(enabled.len())
    } else {
        Err(errors)
    }
}

/// Calls of `enabled` functions inside `unsafe` blocks of `code` that do not come just after
/// a call of the function's guard.
fn unguarded_calls(path: &str, code: &[String], enabled: &[Enabled]) -> Vec<String> {
    let block = Regex::new(r"\bunsafe\s*\{").expect("regex");
    let mut errors = Vec::new();
    for (i, line) in code.iter().enumerate() {
        let Some(open) = block.find(line) else {
            continue;
        };
        // The block's lines: from `unsafe {` to its closing brace.
        let mut depth = 0i64;
        let mut inside = Vec::new();
        for (j, l) in code.iter().enumerate().skip(i) {
            let from = if j == i { open.start() } else { 0 };
            inside.push(&l[from..]);
            depth += l[from..].matches('{').count() as i64 - l[from..].matches('}').count() as i64;
            if depth <= 0 {
                break;
            }
        }
        let body = inside.join("\n");
        // The three lines of code before the block, and its own line up to `unsafe`.
        let mut before: Vec<&str> = code[..i]
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .map(String::as_str)
            .collect();
        before.push(&line[..open.start()]);
        for f in enabled {
            let call = Regex::new(&format!(r"\b{}\s*(::<[^>]*>)?\(", f.name)).expect("regex");
            if !call.is_match(&body) {
                continue;
            }
            // A function without a guard is reported by `check_sources` already.
            let Some(guard) = f.guard.as_deref() else {
                continue;
            };
            let guard_call = Regex::new(&format!(r"\b{guard}\s*\(")).expect("regex");
            if !before.iter().any(|l| guard_call.is_match(l)) {
                errors.push(format!(
                    "{path}:{}: `{}` ({}:{}) is called in an unsafe block without a call of \
                     its guard `{guard}()` just before",
                    i + 1,
                    f.name,
                    f.file,
                    f.line
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
pub fn run(x: u32) -> u32 {
    if has_fast() {
        // SAFETY: checked just above.
        return unsafe { fast(x) };
    }
    x
}

/// Whether the CPU has every feature [`fast`] enables.
fn has_fast() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi2")
}

#[target_feature(enable = "avx2,bmi2")]
unsafe fn fast(x: u32) -> u32 {
    helper(x)
}

#[target_feature(enable = "avx2,bmi2")]
fn helper(x: u32) -> u32 {
    let braces = "{{{";
    x + braces.len() as u32
}
"#;

    fn errors(source: &str) -> String {
        check_sources(&[("a.rs", source)]).unwrap_err().join("\n")
    }

    #[test]
    fn matching_checks_and_attributes_pass() {
        assert_eq!(check_sources(&[("a.rs", GOOD)]), Ok(2));
    }

    #[test]
    fn a_feature_on_one_side_only_fails() {
        // Enabled but not checked: the defect this test exists for.
        let more = GOOD.replacen(
            "\"avx2,bmi2\")]\nunsafe",
            "\"avx2,bmi2,lzcnt\")]\nunsafe",
            1,
        );
        let e = errors(&more);
        assert!(
            e.contains("`fast` enables") && e.contains("not checked: [\"lzcnt\"]"),
            "{e}"
        );
        // Checked but not enabled.
        let more = GOOD.replacen(
            "&& std::arch::is_x86_feature_detected!(\"bmi2\")",
            "&& std::arch::is_x86_feature_detected!(\"bmi2\")\n        && is_x86_feature_detected!(\"fma\")",
            1,
        );
        let e = errors(&more);
        assert!(e.contains("not enabled: [\"fma\"]"), "{e}");
        assert_eq!(e.lines().count(), 2, "both functions: {e}");
    }

    #[test]
    fn unchecked_functions_calls_and_checks_fail() {
        // No check at all above the functions.
        let e = errors(&GOOD.replace("is_x86_feature_detected", "is_feature"));
        assert!(e.contains("no run-time check comes before"), "{e}");
        // A call with no guard just before it.
        let e = errors(&GOOD.replacen("if has_fast() {", "if x > 3 {", 1));
        assert!(
            e.contains("`fast` (a.rs:16) is called in an unsafe block"),
            "{e}"
        );
        // A check that guards nothing.
        let e = errors(&format!(
            "{GOOD}\nfn more() -> bool {{ is_x86_feature_detected!(\"sse4.2\") }}\n"
        ));
        assert!(e.contains("guards no target_feature function"), "{e}");
        // An attribute the test cannot read is an error, not a pass.
        let e = errors(&GOOD.replacen("enable = \"avx2,bmi2\"", "enable=\"avx2,bmi2\"", 1));
        assert!(e.contains("not of the form"), "{e}");
    }

    /// Every source file of the crate, read at run time: a file added with target features
    /// is checked without being listed anywhere.
    #[test]
    fn every_target_feature_function_in_the_crate_is_guarded() {
        fn walk(dir: &std::path::Path, files: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).expect("src/ readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, files);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source readable");
                    files.push((path.display().to_string(), text));
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        // This file's own examples are not the crate's code.
        files.retain(|(path, _)| {
            !std::path::Path::new(path).ends_with("kernels/target_features.rs")
        });
        let sources: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let checked = check_sources(&sources).unwrap_or_else(|e| panic!("{}", e.join("\n")));
        // simd.rs's two wrappers and model_file/x86.rs's three functions, at least.
        assert!(
            checked >= 5,
            "only {checked} target_feature functions found"
        );
    }
}
