//! The stable-toolchain fuzz driver. See FUZZING.md.
//!
//! ```text
//! fuzz-harness run [--seconds S] [--runs N] [--target NAME]... [--corpus DIR] [--artifacts DIR] [--seed N]
//! fuzz-harness replay --target NAME FILE...
//! fuzz-harness write-seeds [--corpus DIR] [--vectors DIR]
//! ```
//!
//! `run` fuzzes each target for S seconds (or N executions) from its seeds, prints executions
//! per second per target and a summary line `fuzz: … executions, … crashes`, saves every failing
//! input under the artifacts directory and exits non-zero if there was any.

use std::ffi::{c_char, c_int, CString};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fuzz_harness::alloc_count::CountingAllocator;
use fuzz_harness::mutate::{mutate, Rng};
use fuzz_harness::targets::{self, Target, TARGETS};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The stack each target runs on: a tokio worker thread's default, where the server decodes.
const STACK_BYTES: usize = 2 * 1024 * 1024;
/// Inputs kept per target to mutate further.
const POOL_LIMIT: usize = 4096;
/// Failing inputs saved per target (the first ones tell the story).
const SAVED_FAILURES: usize = 10;

struct Options {
    seconds: Option<f64>,
    runs: Option<u64>,
    targets: Vec<String>,
    corpus: PathBuf,
    artifacts: PathBuf,
    vectors: PathBuf,
    seed: u64,
    files: Vec<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut options = Options {
        seconds: None,
        runs: None,
        targets: Vec::new(),
        corpus: root.join("corpus"),
        artifacts: root.join("../../target/fuzz-artifacts"),
        vectors: root.join("../../spec/vectors"),
        seed: 0x5eed,
        files: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--seconds" => options.seconds = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--runs" => options.runs = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--target" => options.targets.push(value()?),
            "--corpus" => options.corpus = value()?.into(),
            "--artifacts" => options.artifacts = value()?.into(),
            "--vectors" => options.vectors = value()?.into(),
            "--seed" => options.seed = value()?.parse().map_err(|e| format!("{e}"))?,
            other if !other.starts_with("--") => options.files.push(other.into()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    for name in &options.targets {
        if targets::by_name(name).is_none() {
            return Err(format!("unknown target {name}"));
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("usage: fuzz-harness run|replay|write-seeds [options] (see FUZZING.md)");
        return ExitCode::from(2);
    };
    let options = match parse_options(rest) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("fuzz-harness: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match command.as_str() {
        "run" => run(&options),
        "replay" => replay(&options),
        "write-seeds" => write_seeds(&options),
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("fuzz-harness: {error}");
            ExitCode::from(2)
        }
    }
}

/// FNV-1a: a stable file name for an input.
fn input_name(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn write_seeds(options: &Options) -> Result<bool, String> {
    let seeds = fuzz_harness::seeds::all(&options.vectors).map_err(|e| e.to_string())?;
    let mut written = 0;
    for seed in &seeds {
        let dir = options.corpus.join(&seed.target);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(input_name(&seed.bytes));
        std::fs::write(&path, &seed.bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        written += 1;
    }
    println!("wrote {written} seeds under {}", options.corpus.display());
    Ok(true)
}

fn selected(options: &Options) -> Vec<(&'static str, Target)> {
    TARGETS
        .iter()
        .filter(|(name, _)| options.targets.is_empty() || options.targets.iter().any(|t| t == name))
        .copied()
        .collect()
}

fn read_corpus(dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e} (run `fuzz-harness write-seeds`)", dir.display()))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    entries
        .iter()
        .map(|path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

fn replay(options: &Options) -> Result<bool, String> {
    let [(name, target)] = selected(options)[..] else {
        return Err("replay needs exactly one --target".into());
    };
    install_hooks();
    let mut ok = true;
    for file in &options.files {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        match run_one(target, &bytes) {
            Ok(accepted) => println!("{}: ok (accepted: {accepted})", file.display()),
            Err(message) => {
                ok = false;
                println!("{}: {name} FAILED: {message}", file.display());
            }
        }
    }
    Ok(ok)
}

/// Totals over all targets.
#[derive(Default)]
struct Totals {
    executions: u64,
    crashes: u64,
}

fn run(options: &Options) -> Result<bool, String> {
    if options.seconds.is_none() && options.runs.is_none() {
        return Err("give --seconds or --runs".into());
    }
    std::fs::create_dir_all(&options.artifacts)
        .map_err(|e| format!("{}: {e}", options.artifacts.display()))?;
    install_hooks();
    let started = Instant::now();
    let mut totals = Totals::default();
    for (name, target) in selected(options) {
        let seeds = read_corpus(&options.corpus.join(name))?;
        if seeds.is_empty() {
            return Err(format!("no seeds for {name}"));
        }
        let (executions, crashes) = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .stack_size(STACK_BYTES)
                .spawn_scoped(scope, || fuzz_target(options, name, target, seeds))
                .expect("spawning a fuzz thread")
                .join()
                .expect("the fuzz loop catches target panics")
        });
        totals.executions += executions;
        totals.crashes += crashes;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "fuzz: {} targets, {} executions, {} crashes in {elapsed:.1} s ({:.0} exec/s); \
         worst allocation {} bytes per input byte (limit {})",
        selected(options).len(),
        totals.executions,
        totals.crashes,
        totals.executions as f64 / elapsed,
        targets::worst_bytes_per_input_byte(),
        targets::BYTES_PER_INPUT_BYTE,
    );
    Ok(totals.crashes == 0)
}

/// Fuzzes one target: every seed once, then mutants until the time or run budget is spent.
/// Returns (executions, crashes).
fn fuzz_target(options: &Options, name: &str, target: Target, seeds: Vec<Vec<u8>>) -> (u64, u64) {
    set_crash_file(&options.artifacts.join(format!("{name}-crash-in-progress")));
    let mut rng = Rng::new(options.seed ^ fnv(name));
    let deadline = options
        .seconds
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let started = Instant::now();
    let (mut executions, mut crashes) = (0u64, 0u64);
    let (mut slowest, mut slowest_len) = (Duration::ZERO, 0);
    let mut pool = seeds.clone();
    let mut first_failure = None;
    let mut pending = seeds.into_iter();
    loop {
        if options.runs.is_some_and(|runs| executions >= runs)
            || (executions % 64 == 0 && deadline.is_some_and(|d| Instant::now() >= d))
        {
            break;
        }
        let input = match pending.next() {
            Some(seed) => seed,
            None => mutate(&pool[rng.below(pool.len())], &pool, &mut rng),
        };
        let began = Instant::now();
        let outcome = run_one(target, &input);
        let took = began.elapsed();
        if took > slowest {
            (slowest, slowest_len) = (took, input.len());
        }
        executions += 1;
        match outcome {
            Ok(true) if pool.len() < POOL_LIMIT => pool.push(input),
            Ok(true) => {
                let slot = rng.below(POOL_LIMIT);
                pool[slot] = input;
            }
            Ok(false) => {}
            Err(message) => {
                crashes += 1;
                if crashes as usize <= SAVED_FAILURES {
                    let path = options
                        .artifacts
                        .join(format!("{name}-{}", input_name(&input)));
                    let saved = std::fs::write(&path, &input)
                        .map(|()| path.display().to_string())
                        .unwrap_or_else(|e| format!("(not saved: {e})"));
                    println!(
                        "{name}: FAILED on {} bytes, saved to {saved}: {message}",
                        input.len()
                    );
                }
                first_failure.get_or_insert(message);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{name:>16}: {executions:>8} executions ({:>6.0}/s), {crashes} crashes, pool {}, slowest input {:.1} ms ({slowest_len} bytes)",
        executions as f64 / elapsed,
        pool.len(),
        slowest.as_secs_f64() * 1000.0,
    );
    (executions, crashes)
}

fn fnv(text: &str) -> u64 {
    u64::from_str_radix(&input_name(text.as_bytes()), 16).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Catching failures: panics are caught and reported; an abort (stack overflow, allocation
// failure) cannot be, so the input under test is written out from the signal handler first.
// ---------------------------------------------------------------------------------------------

/// The message of the last panic on this thread (the hook records it instead of printing).
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

static CURRENT_INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static CURRENT_LEN: AtomicUsize = AtomicUsize::new(0);
static CRASH_FILE: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

#[allow(unsafe_code, reason = "installs the SIGABRT handler")]
fn install_hooks() {
    panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = format!("{payload}{location}");
    }));
    // SAFETY: the handler only calls async-signal-safe functions (open, write, close, signal,
    // raise) on data published before the input ran.
    unsafe {
        libc::signal(
            libc::SIGABRT,
            on_fatal_signal as *const () as libc::sighandler_t,
        );
    }
}

#[allow(unsafe_code, reason = "frees the CString it published before")]
fn set_crash_file(path: &Path) {
    let path = CString::new(path.display().to_string()).expect("no NUL in a path");
    let old = CRASH_FILE.swap(path.into_raw(), Ordering::SeqCst);
    if !old.is_null() {
        // SAFETY: `old` came from `CString::into_raw` above and is no longer published.
        drop(unsafe { CString::from_raw(old) });
    }
}

#[allow(unsafe_code, reason = "a signal handler calls libc")]
extern "C" fn on_fatal_signal(signal: c_int) {
    let path = CRASH_FILE.load(Ordering::SeqCst);
    let input = CURRENT_INPUT.load(Ordering::SeqCst);
    let len = CURRENT_LEN.load(Ordering::SeqCst);
    // SAFETY: async-signal-safe calls only; `input`/`len` describe the live input under test.
    unsafe {
        if !path.is_null() && !input.is_null() {
            let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
            if fd >= 0 {
                libc::write(fd, input.cast(), len);
                libc::close(fd);
            }
        }
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// Runs the target on one input: `Ok(accepted)`, or the panic message.
fn run_one(target: Target, input: &[u8]) -> Result<bool, String> {
    CURRENT_INPUT.store(input.as_ptr().cast_mut(), Ordering::SeqCst);
    CURRENT_LEN.store(input.len(), Ordering::SeqCst);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| target(input)));
    CURRENT_INPUT.store(std::ptr::null_mut(), Ordering::SeqCst);
    outcome.map_err(|_| std::mem::take(&mut *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner())))
}
