//! What each scenario tried, measured and checked, rendered as the markdown of RELIABILITY.md.

use std::fmt::Write;

/// How one check came out.
pub enum Outcome {
    Pass,
    Fail(String),
    /// Measured and reported, but not held against a bound in this run (the bound's flag is off).
    NotEnforced(String),
    /// Could not run here; says why.
    Skipped(String),
    /// Failed, and listed in [`KNOWN_DEFECTS`]: reported as such, without failing the run.
    KnownDefect(String),
}

/// Checks that fail today for a server defect already reported, and why. A check listed here
/// still runs and is shown as a defect in the report; delete its line once the fix lands, so
/// that it fails the run again if it regresses.
pub const KNOWN_DEFECTS: &[(&str, &str)] = &[];

pub struct Check {
    pub what: String,
    pub outcome: Outcome,
}

/// One scenario's part of the report.
pub struct Section {
    pub title: String,
    /// What was done, in sentences.
    pub tried: Vec<String>,
    /// Measured figures: (what, value).
    pub figures: Vec<(String, String)>,
    pub checks: Vec<Check>,
    /// Figures that also go to the summary at the top.
    pub headlines: Vec<(String, String)>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            tried: Vec::new(),
            figures: Vec::new(),
            checks: Vec::new(),
            headlines: Vec::new(),
        }
    }

    pub fn tried(&mut self, text: impl Into<String>) {
        self.tried.push(text.into());
    }

    pub fn figure(&mut self, what: impl Into<String>, value: impl ToString) {
        self.figures.push((what.into(), value.to_string()));
    }

    /// A figure that is also quoted in the summary.
    pub fn headline(&mut self, what: impl Into<String>, value: impl ToString) {
        let (what, value) = (what.into(), value.to_string());
        self.headlines.push((what.clone(), value.clone()));
        self.figures.push((what, value));
    }

    /// Passes when `ok`; otherwise fails with `detail` (a known defect if listed).
    pub fn check(&mut self, what: impl Into<String>, ok: bool, detail: impl Into<String>) {
        let what = what.into();
        let outcome = match (ok, KNOWN_DEFECTS.iter().find(|(check, _)| *check == what)) {
            (true, _) => Outcome::Pass,
            (false, Some((_, why))) => Outcome::KnownDefect(format!("{} ({why})", detail.into())),
            (false, None) => Outcome::Fail(detail.into()),
        };
        self.checks.push(Check { what, outcome });
    }

    /// A bound that is held only when `enforce` is on; reported either way.
    pub fn bound(&mut self, what: impl Into<String>, ok: bool, detail: String, enforce: bool) {
        let outcome = match (ok, enforce) {
            (true, _) => Outcome::Pass,
            (false, true) => Outcome::Fail(detail),
            (false, false) => Outcome::NotEnforced(detail),
        };
        self.checks.push(Check {
            what: what.into(),
            outcome,
        });
    }

    pub fn skip(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.checks.push(Check {
            what: what.into(),
            outcome: Outcome::Skipped(why.into()),
        });
    }

    /// The scenario itself broke (could not set up, a request failed unexpectedly).
    pub fn error(&mut self, error: &anyhow::Error) {
        self.checks.push(Check {
            what: "the scenario ran to its end".into(),
            outcome: Outcome::Fail(format!("{error:#}")),
        });
    }

    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|check| matches!(check.outcome, Outcome::Fail(_)))
            .count()
    }

    pub fn known_defects(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|check| matches!(check.outcome, Outcome::KnownDefect(_)))
    }
}

/// The whole report: how it was run, a summary, then every section.
pub struct Report {
    pub preamble: Vec<(String, String)>,
    pub sections: Vec<Section>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.sections.iter().map(Section::failures).sum()
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("# Reliability\n\n");
        out.push_str(
            "Written by `reliability` (the `reliability/` crate), which drives the real `seed-server` \
             binary through crashes, hostile clients and broken disks, and checks that nothing \
             acknowledged is lost. Do not edit by hand: run the command below again.\n\n",
        );
        for (what, value) in &self.preamble {
            let _ = writeln!(out, "- {what}: {value}");
        }
        let _ = writeln!(
            out,
            "- checks failed: **{}** of {}",
            self.failures(),
            self.sections.iter().map(|s| s.checks.len()).sum::<usize>()
        );
        out.push_str("\n## Summary\n\n| figure | value |\n|---|---|\n");
        for section in &self.sections {
            for (what, value) in &section.headlines {
                let _ = writeln!(out, "| {what} | {value} |");
            }
        }
        let defects: Vec<&Check> = self
            .sections
            .iter()
            .flat_map(Section::known_defects)
            .collect();
        if !defects.is_empty() {
            out.push_str("\nKnown defects (failing checks of reported server defects, not failing this run):\n\n");
            for check in defects {
                let _ = writeln!(out, "- {}", check.what);
            }
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n## {}\n", section.title);
            for sentence in &section.tried {
                let _ = writeln!(out, "{sentence}");
            }
            if !section.figures.is_empty() {
                out.push_str("\n| figure | value |\n|---|---|\n");
                for (what, value) in &section.figures {
                    let _ = writeln!(out, "| {what} | {value} |");
                }
            }
            if !section.checks.is_empty() {
                out.push('\n');
                for check in &section.checks {
                    let line = match &check.outcome {
                        Outcome::Pass => format!("- pass: {}", check.what),
                        Outcome::Fail(detail) => format!("- **FAIL**: {} — {detail}", check.what),
                        Outcome::NotEnforced(detail) => {
                            format!(
                                "- over the bound, not enforced in this run: {} — {detail}",
                                check.what
                            )
                        }
                        Outcome::Skipped(why) => format!("- not run: {} — {why}", check.what),
                        Outcome::KnownDefect(detail) => {
                            format!("- **KNOWN DEFECT**: {} — {detail}", check.what)
                        }
                    };
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }
}
