//! Random mutations of the shipped example config: the parser never panics,
//! and every refusal names the file, a line inside it, and (for anything past
//! a syntax error) the key.

use std::path::Path;

use rand::{Rng as _, SeedableRng as _, rngs::StdRng};

use super::{ConfigError, parse};

const EXAMPLE: &str = include_str!("../../../dist/lb.example.toml");

/// Values that are hostile wherever they land.
const VALUES: &[&str] = &[
    "\"18446744073709551615s\"",
    "\"-1s\"",
    "\"721h\"",
    "\"0s\"",
    "18446744073709551615",
    "-1",
    "0",
    "4294967296",
    "1e400",
    "nan",
    "inf",
    "\"\"",
    "\"../../etc/passwd\"",
    "\"\\u0000\"",
    "[]",
    "{}",
    "\"ff:ff:ff:ff:ff:ff\"",
    "\"::ffff:1.2.3.4\"",
    "true",
];

fn mutate(text: &str, rng: &mut StdRng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for _ in 0..rng.random_range(1..4) {
        let i = rng.random_range(0..lines.len());
        match rng.random_range(0..6) {
            // Replace a value.
            0 => {
                if let Some((key, _)) = lines[i].split_once('=') {
                    let v = VALUES[rng.random_range(0..VALUES.len())];
                    lines[i] = format!("{key}= {v}");
                }
            }
            1 => {
                lines.remove(i);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            2 => {
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            3 => {
                let j = rng.random_range(0..lines.len());
                lines.swap(i, j);
            }
            // A random byte somewhere in the line.
            4 => {
                let mut bytes = lines[i].clone().into_bytes();
                let at = rng.random_range(0..=bytes.len());
                let noise = b"=[]{}\"'#.,\\\n x0";
                bytes.insert(at, noise[rng.random_range(0..noise.len())]);
                lines[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
            _ => {
                let keep = rng.random_range(0..=lines[i].len());
                let cut: String = lines[i].chars().take(keep).collect();
                lines[i] = cut;
            }
        }
    }
    lines.join("\n")
}

#[test]
fn mutated_configs_never_panic_and_errors_say_where() {
    let path = Path::new("fuzz.toml");
    parse(EXAMPLE, path).expect("the example is valid");
    let mut rng = StdRng::seed_from_u64(0x1b_c0f);
    let (mut refused, mut accepted) = (0, 0);
    for _ in 0..3000 {
        let text = mutate(EXAMPLE, &mut rng);
        match parse(&text, path) {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused += 1;
                let ConfigError::Invalid { line, .. } = &e else {
                    panic!("not located: {e}");
                };
                let lines = text.lines().count().max(1);
                assert!(
                    (1..=lines + 1).contains(line),
                    "line {line} of {lines}: {e}\n{text}"
                );
                assert!(
                    e.to_string()
                        .starts_with(&format!("config error: fuzz.toml:{line}: ")),
                    "{e}"
                );
            }
        }
    }
    println!("{refused} mutated configs refused, {accepted} accepted");
    assert!(refused > 1000 && accepted > 0);
}
