//! A data dir that fills up (a 2 MiB tmpfs) and one that turns read-only: writes are refused
//! with typed errors, the server stays healthy and keeps reading, and after space is freed (or
//! the dir is writable again) and a restart, every acknowledged write is there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::client::Api;
use crate::report::Section;
use crate::server::{Options, Server};
use crate::Suite;

/// The small disk, and how big it becomes when space is freed.
const FULL_DISK_SIZE: &str = "2m";
const FREED_DISK_SIZE: &str = "16m";
const ROOMS: usize = 4;
const MESSAGE_BYTES: usize = 2048;
/// Writes tried before the disk must have filled, and after it did.
const MAX_WRITES: usize = 4_000;
const WRITES_WHILE_FULL: usize = 20;
const COUNTER_WRITES: usize = 50;

/// A tmpfs mounted for one scenario, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

fn mount(args: &[&str], dir: &Path) -> Result<()> {
    let output = Command::new("mount").args(args).arg(dir).output()?;
    if !output.status.success() {
        bail!(
            "mount {} {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

impl Tmpfs {
    fn mount(dir: PathBuf, size: &str) -> Result<Self> {
        mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &dir,
        )
        .context("a tmpfs needs root")?;
        Ok(Self { dir })
    }

    fn remount(&self, options: &str) -> Result<()> {
        mount(&["-o", &format!("remount,{options}")], &self.dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a server killed a moment ago may still be releasing its files.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[allow(unsafe_code, reason = "geteuid through libc")]
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub async fn run(suite: &Suite) -> Section {
    let mut section = Section::new("Full and read-only data dir");
    if !running_as_root() {
        section.skip(
            "a full and a read-only data dir",
            "mounting a tmpfs needs root",
        );
        return section;
    }
    if let Err(error) = disk_full(suite, &mut section).await {
        section.error(&error);
    }
    if let Err(error) = read_only(suite, &mut section).await {
        section.error(&error);
    }
    section
}

fn message(room: usize, n: usize) -> String {
    let head = format!("room{room}-msg{n}-");
    format!("{head}{}", "x".repeat(MESSAGE_BYTES - head.len()))
}

async fn disk_full(suite: &Suite, section: &mut Section) -> Result<()> {
    section.tried(format!(
        "Full disk: the data dir is a {FULL_DISK_SIZE} tmpfs. {ROOMS} chat rooms get {MESSAGE_BYTES}-byte \
         messages in turn until the server refuses one, then {WRITES_WHILE_FULL} more; while full, \
         `/health` and every room's history are read. Then the tmpfs grows to {FREED_DISK_SIZE}, a \
         new message must be accepted by the same process, and after kill -9 and a restart every \
         acknowledged message must be in its room's history."
    ));
    let tmpfs = Tmpfs::mount(suite.data_dir("disk-full")?, FULL_DISK_SIZE)?;
    // The mount point itself: the server's log goes beside it, off the small disk.
    let data = tmpfs.dir.clone();
    let mut server = Server::start(&suite.bin, &data, Options::default()).await?;
    let api = Api::new(server.url(""), None)?;
    let mut rooms = Vec::new();
    for room in 0..ROOMS {
        rooms.push(api.actor_id("chatRoom", &format!("full-{room}")).await?);
    }
    let mut acknowledged: Vec<Vec<String>> = vec![Vec::new(); ROOMS];
    let mut refusals: Vec<String> = Vec::new();
    let mut refused: Vec<Vec<String>> = vec![Vec::new(); ROOMS];
    let mut writes = 0;
    while writes < MAX_WRITES && refusals.len() < WRITES_WHILE_FULL {
        let room = writes % ROOMS;
        let text = message(room, writes);
        let answer = api
            .action(&rooms[room], "sendMessage", vec![json!(text)])
            .await?;
        if answer.status == 200 {
            acknowledged[room].push(text);
        } else {
            refusals.push(format!("{} {}", answer.status, answer.error_code()));
            refused[room].push(text);
        }
        writes += 1;
    }
    let health = api.get("/health").await?.status;
    let mut unreadable = Vec::new();
    for id in &rooms {
        let answer = api.action(id, "getHistory", vec![]).await?;
        if answer.status != 200 {
            unreadable.push(format!("{} {}", answer.status, answer.error_code()));
        }
    }
    tmpfs.remount(&format!("size={FREED_DISK_SIZE}"))?;
    let after_freeing = api
        .action(&rooms[0], "sendMessage", vec![json!(message(0, writes))])
        .await?;
    if after_freeing.status == 200 {
        acknowledged[0].push(message(0, writes));
    }
    server.kill9()?;
    server.restart().await?;
    let (mut lost, mut made_after_refusal) = (0, 0);
    for (room, id) in rooms.iter().enumerate() {
        let history = api.output(id, "getHistory", vec![]).await?;
        let history: Vec<&str> = history
            .as_array()
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        lost += acknowledged[room]
            .iter()
            .filter(|text| !history.contains(&text.as_str()))
            .count();
        made_after_refusal += refused[room]
            .iter()
            .filter(|text| history.contains(&text.as_str()))
            .count();
    }
    let acknowledged_total: usize = acknowledged.iter().map(Vec::len).sum();
    let mut codes = refusals.clone();
    codes.sort();
    codes.dedup();
    section.figure(
        "full disk: messages acknowledged / refused",
        format!("{acknowledged_total} / {}", refusals.len()),
    );
    section.figure("full disk: refusals answered", codes.join(", "));
    section.headline("acknowledged writes lost to a full disk", lost);
    section.check(
        "the disk filled up within the writes tried",
        !refusals.is_empty(),
        format!("{MAX_WRITES} writes were all accepted"),
    );
    section.check(
        "every refusal is 503 storage/full",
        refusals.iter().all(|refusal| refusal == "503 storage/full"),
        format!("got {}", codes.join(", ")),
    );
    section.check(
        "healthy and readable while full",
        health == 200 && unreadable.is_empty(),
        format!(
            "/health {health}; {} of {ROOMS} histories refused: {}",
            unreadable.len(),
            unreadable.join(", ")
        ),
    );
    section.check(
        "writes accepted again once space is freed, without a restart",
        after_freeing.status == 200,
        format!("{} {}", after_freeing.status, after_freeing.error_code()),
    );
    section.check(
        "no acknowledged message lost to a full disk",
        lost == 0,
        format!("{lost} lost"),
    );
    section.check(
        "no refused message is made later",
        made_after_refusal == 0,
        format!(
            "{made_after_refusal} of {} refused messages are in the history after the restart",
            refusals.len()
        ),
    );
    drop(server);
    Ok(())
}

async fn read_only(suite: &Suite, section: &mut Section) -> Result<()> {
    let tmpfs = Tmpfs::mount(suite.data_dir("disk-read-only")?, FREED_DISK_SIZE)?;
    // The mount point itself: the server's log goes beside it, off the small disk.
    let data = tmpfs.dir.clone();
    let mut server = Server::start(&suite.bin, &data, Options::default()).await?;
    let api = Api::new(server.url(""), None)?;
    let id = api.actor_id("counter", "read-only").await?;
    for _ in 0..COUNTER_WRITES {
        api.output(&id, "increment", vec![json!(1)]).await?;
    }
    // Linux refuses to make a file system read-only while files on it are open for writing:
    // then the server is stopped first and started again on the read-only dir.
    let how = if tmpfs.remount("ro").is_ok() {
        "while the server ran"
    } else {
        server.kill9()?;
        tmpfs.remount("ro")?;
        server.restart().await?;
        "between a kill -9 and a restart (Linux refuses it while files are open for writing)"
    };
    section.tried(format!(
        "Read-only data dir: {COUNTER_WRITES} acknowledged increments, then the data dir's tmpfs \
         is remounted read-only {how}; increments must be refused with a typed error, reads must \
         work, and once the dir is writable again, after kill -9 and a restart, the counter must \
         hold exactly the acknowledged increments. Last, the server is stopped cleanly (SIGTERM, \
         which removes SQLite's `-wal` and `-shm` files), the dir is made read-only again and the \
         server restarted on it: it must start, read the counter and refuse an increment."
    ));
    let mut codes = Vec::new();
    let mut accepted_while_read_only = 0;
    for _ in 0..10 {
        let answer = api.action(&id, "increment", vec![json!(1)]).await?;
        if answer.status == 200 {
            accepted_while_read_only += 1;
        } else {
            codes.push(format!("{} {}", answer.status, answer.error_code()));
        }
    }
    let read = api.action(&id, "getCount", vec![]).await?;
    let health = api.get("/health").await?.status;
    tmpfs.remount("rw")?;
    server.kill9()?;
    server.restart().await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stored = api.output(&id, "getCount", vec![]).await?;
    server.terminate()?;
    tmpfs.remount("ro")?;
    // A server that does not start on it fails the two checks below, not the scenario.
    let after_clean_stop = match server.restart().await {
        Ok(()) => Ok((
            api.action(&id, "getCount", vec![]).await?,
            api.action(&id, "increment", vec![json!(1)]).await?,
        )),
        Err(error) => Err(format!("the server did not start: {error:#}")),
    };
    codes.sort();
    codes.dedup();
    section.figure("read-only: increments refused with", codes.join(", "));
    section.figure(
        "read-only: increments acknowledged before / after restart count",
        format!("{COUNTER_WRITES} / {stored}"),
    );
    section.check(
        "writes to a read-only dir are refused with 503 storage/unavailable",
        accepted_while_read_only == 0 && codes == ["503 storage/unavailable"],
        format!(
            "{accepted_while_read_only} accepted; refusals: {}",
            codes.join(", ")
        ),
    );
    section.check(
        "reads and /health work on a read-only dir",
        read.status == 200 && health == 200,
        format!("getCount {}, /health {health}", read.status),
    );
    section.check(
        "no acknowledged increment lost and no refused one made",
        stored.as_f64() == Some(COUNTER_WRITES as f64),
        format!("stored {stored}, acknowledged {COUNTER_WRITES}"),
    );
    let (read_ok, write_refused, detail) = match &after_clean_stop {
        Ok((read, write)) => (
            read.status == 200 && read.body["output"].as_f64() == Some(COUNTER_WRITES as f64),
            write.status == 503 && write.error_code() == "storage/unavailable",
            format!(
                "getCount {} {}, increment {} {}",
                read.status,
                read.body["output"],
                write.status,
                write.error_code()
            ),
        ),
        Err(problem) => (false, false, problem.clone()),
    };
    section.check(
        "reads work on a read-only dir after a clean shutdown",
        read_ok,
        detail.clone(),
    );
    section.check(
        "writes after a clean shutdown on a read-only dir are refused with 503 storage/unavailable",
        write_refused,
        detail,
    );
    drop(server);
    Ok(())
}
