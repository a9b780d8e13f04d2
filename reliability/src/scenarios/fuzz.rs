//! The fuzz run: the stable fuzz harness (`fuzz-harness run --seconds S`, S per target; built
//! by `cargo build --release -p fuzz-harness`, found in the release or the seed-server binary's
//! directory), whose summary line `fuzz: … executions, … crashes` gives the figures.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::report::Section;
use crate::Suite;

const HARNESS: &str = "fuzz-harness";

pub async fn run(suite: &Suite) -> Section {
    let mut section = Section::new("Fuzz run");
    let bin_dir = suite.bin.parent().unwrap_or(std::path::Path::new("."));
    let candidates = [
        bin_dir.join("../release").join(HARNESS),
        bin_dir.join(HARNESS),
    ];
    let Some(harness) = candidates.iter().find(|path| path.exists()) else {
        section.headline(
            "fuzz executions / crashes",
            "not run: no fuzz harness in this build",
        );
        section.skip(
            "the fuzz harness",
            format!(
                "no {HARNESS} in {} (build it with cargo build --release -p {HARNESS})",
                bin_dir.display()
            ),
        );
        return section;
    };
    if let Err(error) = fuzz(suite, harness, &mut section).await {
        section.error(&error);
    }
    section
}

/// The number before `word` in `line` (`"123 executions"` → 123).
fn count_before(line: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',')
        .collect();
    words
        .windows(2)
        .find(|pair| pair[1].starts_with(word))
        .and_then(|pair| pair[0].parse().ok())
}

async fn fuzz(suite: &Suite, harness: &std::path::Path, section: &mut Section) -> Result<()> {
    let seconds = suite.size.fuzz_seconds;
    section.tried(format!(
        "`{HARNESS} run --seconds {seconds}`: every decoder's target for {seconds} s, mutating the \
         committed seed corpus."
    ));
    let output = tokio::time::timeout(
        Duration::from_secs(seconds * 20 + 60),
        tokio::process::Command::new(harness)
            .args(["run", "--seconds", &seconds.to_string()])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("the fuzz harness did not finish in time")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with("fuzz:"))
        .unwrap_or_default();
    let executions = count_before(summary, "execution");
    let crashes = count_before(summary, "crash");
    section.headline(
        "fuzz executions / crashes",
        format!(
            "{} / {}",
            executions.map_or("?".into(), |n| n.to_string()),
            crashes.map_or("?".into(), |n| n.to_string())
        ),
    );
    section.figure("harness summary", format!("`{}`", summary.trim()));
    section.check(
        "the fuzz harness found no crash",
        output.status.success() && crashes == Some(0),
        format!("{}; summary: {summary}", output.status),
    );
    Ok(())
}
