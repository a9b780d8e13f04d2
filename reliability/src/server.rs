//! One `seed-server` process under test: started on a loopback port and a data dir, killed
//! with SIGKILL, its resident memory read from `/proc`.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How a server is started; `Default` is a plain server without a token.
#[derive(Clone, Default)]
pub struct Options {
    pub token: Option<String>,
    /// The process's open-file limit (soft and hard), set before `exec`.
    pub open_files: Option<u64>,
    pub inspector_token: Option<String>,
}

pub struct Server {
    bin: PathBuf,
    child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
    options: Options,
    log: PathBuf,
}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Starts `bin` on a fresh port and `data_dir`, and waits until `/health` answers.
    pub async fn start(bin: &Path, data_dir: &Path, options: Options) -> Result<Self> {
        Self::start_at(bin, data_dir, free_port()?, options).await
    }

    /// Starts `bin` on `port` (to come back where clients expect it).
    pub async fn start_at(
        bin: &Path,
        data_dir: &Path,
        port: u16,
        options: Options,
    ) -> Result<Self> {
        let server = Self::spawn(bin, data_dir, port, options)?;
        server.wait_healthy(Duration::from_secs(20)).await?;
        Ok(server)
    }

    /// Starts the process without waiting for it to serve.
    #[allow(unsafe_code, reason = "pre_exec sets the child's open-file limit")]
    pub fn spawn(bin: &Path, data_dir: &Path, port: u16, options: Options) -> Result<Self> {
        // Beside the data dir; nowhere when that cannot be written (a read-only disk).
        let log = data_dir.with_extension("log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_or_else(|_| Stdio::null(), Stdio::from);
        let mut command = Command::new(bin);
        command
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--data-dir",
            ])
            .arg(data_dir)
            .env_remove("RIVETKIT_TOKEN")
            .env_remove("RIVET_INSPECTOR_TOKEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(token) = &options.token {
            command.args(["--token", token]);
        }
        if let Some(token) = &options.inspector_token {
            command.args(["--inspector-token", token]);
        }
        if let Some(limit) = options.open_files {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self {
            bin: bin.to_path_buf(),
            child,
            port,
            data_dir: data_dir.to_path_buf(),
            options,
            log,
        })
    }

    /// Polls `/health` until it answers 200, the process exits, or `limit` passes.
    pub async fn wait_healthy(&self, limit: Duration) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(response) = http.get(self.url("/health")).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "seed-server on port {} did not become healthy in {limit:?}; log {}",
                    self.port,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits for the process to exit: a graceful shutdown (bounded by the
    /// server's own `--shutdown-timeout`).
    #[allow(unsafe_code, reason = "kill through libc")]
    pub fn terminate(&mut self) -> Result<()> {
        let pid = libc::pid_t::try_from(self.pid())?;
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        self.child.wait()?;
        Ok(())
    }

    /// Kills this process (if it still runs) and starts a new one on the same port and data dir.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_none() {
            self.kill9()?;
        }
        *self = Self::start_at(&self.bin, &self.data_dir, self.port, self.options.clone()).await?;
        Ok(())
    }

    /// The process's resident set size in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS line")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
