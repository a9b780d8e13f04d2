//! The fuzz run: the stable fuzz harness's binary (`fuzz-harness`, built next to seed-server),
//! run for a bounded time; its summary line gives executions and crashes.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::report::Section;
use crate::Suite;

const HARNESS: &str = "fuzz-harness";

pub async fn run(suite: &Suite) -> Section {
    let mut section = Section::new("Fuzz run");
    let Some(harness) = suite.bin.parent().map(|dir| dir.join(HARNESS)) else {
        section.skip(
            "the fuzz harness",
            "no directory for the seed-server binary",
        );
        return section;
    };
    if !harness.exists() {
        section.headline(
            "fuzz executions / crashes",
            "not run: no fuzz harness in this build",
        );
        section.skip(
            "the fuzz harness",
            format!(
                "{} does not exist (build it with cargo build -p {HARNESS})",
                harness.display()
            ),
        );
        return section;
    }
    if let Err(error) = fuzz(suite, &harness, &mut section).await {
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
        "`{HARNESS} --seconds {seconds}`: every decoder's target, mutating the committed seed corpus."
    ));
    let output = tokio::time::timeout(
        Duration::from_secs(seconds * 20 + 60),
        tokio::process::Command::new(harness)
            .args(["--seconds", &seconds.to_string()])
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
        .find(|line| line.contains("executions"))
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
