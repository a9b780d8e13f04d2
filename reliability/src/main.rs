//! `reliability`: the project's reliability suite.
//!
//! It owns the end-to-end fault and abuse scenarios of the real `seed-server` binary, each on a
//! server of its own, and the report of what they found (RELIABILITY.md is its output):
//! kill -9 under concurrent load and during actor creation, with ledgers of acknowledged writes
//! checked after the restart; the reconnect time of 50 official JS clients after kill -9 and
//! after a graceful restart; slowloris and fd exhaustion; memory-growth probes; a full and a
//! read-only data dir; the token and namespace matrix; and the fuzz harness's run.
//!
//! Traffic goes to loopback only, every loop is bounded in count and time, and the process
//! exits non-zero when a write was lost or any check failed. `--quick` is the CI size.

mod client;
mod report;
mod scenarios;
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

use report::Report;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Scenario {
    Kill9,
    Creation,
    JsReconnect,
    Slowloris,
    FdExhaustion,
    Memory,
    Disk,
    Auth,
    Fuzz,
}

const ALL_SCENARIOS: [Scenario; 9] = [
    Scenario::Kill9,
    Scenario::Creation,
    Scenario::JsReconnect,
    Scenario::Slowloris,
    Scenario::FdExhaustion,
    Scenario::Memory,
    Scenario::Disk,
    Scenario::Auth,
    Scenario::Fuzz,
];

#[derive(Parser)]
#[command(
    about = "Runs the rivetkit-rs reliability suite against seed-server and reports (markdown)"
)]
struct Args {
    /// The seed-server binary under test.
    #[arg(
        long,
        env = "SEED_SERVER_BIN",
        default_value = "target/release/seed-server"
    )]
    server_bin: PathBuf,
    /// The CI size (a few minutes); without it, the full size whose figures go in RELIABILITY.md.
    #[arg(long)]
    quick: bool,
    /// Also write the report to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Run only these scenarios (repeatable; default: all).
    #[arg(long = "only", value_enum)]
    only: Vec<Scenario>,
    /// Hold the memory probes to their bounds (fail beyond them) instead of only reporting.
    #[arg(long, env = "RELIABILITY_ENFORCE_MEMORY_BOUNDS")]
    enforce_memory_bounds: bool,
    /// The directory of the official JS client tests (its node_modules holds rivetkit and Node 22).
    #[arg(long, default_value = "tests/node")]
    node_dir: PathBuf,
    /// Where the scratch data dirs go (a temp dir by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// How much each scenario does.
pub struct Size {
    pub kill_trials: usize,
    pub kill_counters: usize,
    pub kill_http_clients: usize,
    pub kill_ws_clients: usize,
    pub kill_max_delay: Duration,
    pub creation_trials: usize,
    pub creation_clients: usize,
    pub js_clients: usize,
    pub slowloris_sockets: usize,
    pub fd_limit: u64,
    pub probe_subscribers: usize,
    pub probe_increments: usize,
    pub probe_subscriptions: usize,
    pub probe_receives: usize,
    pub probe_idle_sockets: usize,
    /// Per fuzz target.
    pub fuzz_seconds: u64,
}

impl Size {
    fn quick() -> Self {
        Self {
            kill_trials: 2,
            kill_counters: 8,
            kill_http_clients: 8,
            kill_ws_clients: 4,
            kill_max_delay: Duration::from_millis(1200),
            creation_trials: 1,
            creation_clients: 8,
            js_clients: 50,
            slowloris_sockets: 100,
            fd_limit: 512,
            probe_subscribers: 20,
            probe_increments: 20_000,
            probe_subscriptions: 20_000,
            probe_receives: 20_000,
            probe_idle_sockets: 500,
            fuzz_seconds: 1,
        }
    }

    fn full() -> Self {
        Self {
            kill_trials: 20,
            kill_counters: 32,
            kill_http_clients: 24,
            kill_ws_clients: 8,
            kill_max_delay: Duration::from_millis(3000),
            creation_trials: 5,
            creation_clients: 16,
            js_clients: 50,
            slowloris_sockets: 200,
            fd_limit: 1024,
            probe_subscribers: 20,
            probe_increments: 120_000,
            probe_subscriptions: 20_000,
            probe_receives: 100_000,
            probe_idle_sockets: 2_000,
            fuzz_seconds: 10,
        }
    }
}

/// What every scenario gets: the binary, the size, and a scratch directory.
pub struct Suite {
    pub bin: PathBuf,
    pub size: Size,
    pub enforce_memory_bounds: bool,
    pub node_dir: PathBuf,
    work: PathBuf,
}

impl Suite {
    /// A fresh, empty data dir named after its scenario.
    pub fn data_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cores} cores ({cpu}), {memory_gib:.0} GiB memory, Linux")
}

/// Other work on the machine skews timings: the 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("`reliability {}`", args.join(" "))
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown".into(), |date| date.trim().to_owned())
}

fn git_commit(dir: &Path) -> String {
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown".into(), |commit| commit.trim().to_owned())
}

/// Raises this process's soft open-file limit to its hard limit: the probes hold thousands of
/// sockets, and the servers it starts inherit the limit (their `max_connections` follows it).
#[allow(unsafe_code, reason = "getrlimit/setrlimit through libc")]
fn raise_open_file_limit() -> Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    raise_open_file_limit()?;
    let bin = std::fs::canonicalize(&args.server_bin)
        .with_context(|| format!("seed-server binary {}", args.server_bin.display()))?;
    let temp = tempfile::Builder::new().prefix("reliability-").tempdir()?;
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let suite = Suite {
        bin,
        size: if args.quick {
            Size::quick()
        } else {
            Size::full()
        },
        enforce_memory_bounds: args.enforce_memory_bounds,
        node_dir: args.node_dir.clone(),
        work,
    };
    let scenarios: Vec<Scenario> = if args.only.is_empty() {
        ALL_SCENARIOS.to_vec()
    } else {
        args.only.clone()
    };
    let started = Instant::now();
    let load_at_start = load_average();
    let mut sections = Vec::new();
    for scenario in scenarios {
        eprintln!("== reliability: {scenario:?}");
        let scenario_started = Instant::now();
        let section = match scenario {
            Scenario::Kill9 => scenarios::kill9::run(&suite).await,
            Scenario::Creation => scenarios::creation::run(&suite).await,
            Scenario::JsReconnect => scenarios::js_reconnect::run(&suite).await,
            Scenario::Slowloris => scenarios::connections::slowloris(&suite).await,
            Scenario::FdExhaustion => scenarios::connections::fd_exhaustion(&suite).await,
            Scenario::Memory => scenarios::memory::run(&suite).await,
            Scenario::Disk => scenarios::disk::run(&suite).await,
            Scenario::Auth => scenarios::auth::run(&suite).await,
            Scenario::Fuzz => scenarios::fuzz::run(&suite).await,
        };
        eprintln!(
            "   {} check(s) failed, {:.1} s",
            section.failures(),
            scenario_started.elapsed().as_secs_f64()
        );
        sections.push(section);
    }
    let report = Report {
        preamble: vec![
            ("command".into(), command_line()),
            ("date".into(), today()),
            ("machine".into(), machine()),
            ("load average at the start".into(), load_at_start),
            ("commit".into(), git_commit(Path::new("."))),
            (
                "size".into(),
                if args.quick { "quick (CI)" } else { "full" }.into(),
            ),
            (
                "memory bounds".into(),
                if args.enforce_memory_bounds {
                    "enforced"
                } else {
                    "reported, not enforced"
                }
                .into(),
            ),
            (
                "duration".into(),
                format!("{:.0} s", started.elapsed().as_secs_f64()),
            ),
        ],
        sections,
    };
    let markdown = report.to_markdown();
    print!("{markdown}");
    if let Some(path) = &args.report {
        std::fs::write(path, &markdown).with_context(|| format!("writing {}", path.display()))?;
    }
    let failures = report.failures();
    // Before exit, which runs no destructors.
    if args.work_dir.is_none() {
        drop(temp);
    }
    if failures > 0 {
        eprintln!("reliability: {failures} check(s) failed");
        std::process::exit(1);
    }
    Ok(())
}
