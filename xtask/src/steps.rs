//! Runs a sequence of independent checks to the end (one failure does not hide
//! the others) and prints a summary.
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

pub struct Steps {
    title: &'static str,
    results: Vec<(String, Duration, Option<String>)>,
}

impl Steps {
    pub fn new(title: &'static str) -> Self {
        Self {
            title,
            results: Vec::new(),
        }
    }

    pub fn run(&mut self, name: &str, step: impl FnOnce() -> Result<()>) {
        println!("==> {name}");
        let start = Instant::now();
        let error = step().err().map(|e| format!("{e:#}"));
        if let Some(e) = &error {
            eprintln!("{name}: FAILED: {e}");
        }
        self.results.push((name.to_owned(), start.elapsed(), error));
    }

    /// Prints the summary; fails if any step failed.
    pub fn finish(self) -> Result<()> {
        println!("\n{} summary:", self.title);
        for (name, took, error) in &self.results {
            let verdict = if error.is_some() { "FAILED" } else { "ok" };
            println!("  {verdict:<6}  {name}  ({:.1} s)", took.as_secs_f64());
            if let Some(e) = error {
                println!("          {e}");
            }
        }
        let failed = self.results.iter().filter(|r| r.2.is_some()).count();
        if failed > 0 {
            bail!(
                "{failed} of {} {} steps failed",
                self.results.len(),
                self.title
            );
        }
        Ok(())
    }
}
