//! Restarting without refusing a connection: the listening socket outlives the process image.
//!
//! At start-up the server takes a listening socket handed over by the systemd protocol (socket
//! activation: `LISTEN_FDS=1`, `LISTEN_PID` this process's id or unset, the socket at fd 3, or
//! at `LISTEN_FDS_FIRST_FD` when set, an extension `listenfd`/`systemfd` also read) instead of
//! binding one; systemd `.socket` units and `systemfd` hand sockets over this way.
//! To restart in place, the server stops accepting (connections queue in the kernel's backlog),
//! drains, then re-executes its own binary with `LISTEN_FDS=1`, `LISTEN_PID=` its own pid (exec
//! keeps it) and the socket left open across the exec: the new image takes the socket up and
//! serves the queued connections.
//!
//! The socket keeps its descriptor number across the exec, named by `LISTEN_FDS_FIRST_FD`,
//! rather than being moved to fd 3: `dup2` onto fd 3 would close what is there (in a tokio
//! program, often the runtime's epoll instance) while the runtime's other threads still use it,
//! and one of them polling it between the `dup2` and the exec aborts the process (seen with 50
//! clients reconnecting during a restart).
//!
//! This reads the environment itself rather than through the `listenfd` crate: that crate
//! removes `LISTEN_FDS` and `LISTEN_PID` from the environment, and `serve` runs inside a
//! multi-threaded tokio runtime, where changing the environment races with any thread reading
//! it (why `remove_var` is `unsafe` from edition 2024 on). Leaving the variables in place is
//! harmless: [`TAKEN`] keeps a second `serve` in the process from taking fd 3 again, and a
//! child process sees a `LISTEN_PID` that is not its own.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The first socket of the systemd protocol, unless `LISTEN_FDS_FIRST_FD` says otherwise.
const SD_LISTEN_FDS_START: RawFd = 3;

/// Set once a `serve` of this process took the inherited socket.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The listening TCP socket handed over by the systemd protocol, if there is one for this
/// process and no `serve` took it yet. Errors when the variables say there is one but its fd is
/// not a listening TCP socket, or more than one is passed: the operator meant something else.
#[allow(
    unsafe_code,
    reason = "takes ownership of the inherited listening socket's fd"
)]
pub(crate) fn inherited_listener() -> io::Result<Option<std::net::TcpListener>> {
    let Some(count) = std::env::var_os("LISTEN_FDS") else {
        return Ok(None);
    };
    let for_us = match std::env::var("LISTEN_PID") {
        Err(std::env::VarError::NotPresent) => true,
        Ok(pid) => pid.is_empty() || pid.parse() == Ok(std::process::id()),
        Err(std::env::VarError::NotUnicode(_)) => false,
    };
    if !for_us || TAKEN.swap(true, Ordering::AcqRel) {
        return Ok(None);
    }
    if count != "1" {
        return Err(invalid(format!(
            "LISTEN_FDS={}: the server takes exactly one listening socket",
            count.to_string_lossy()
        )));
    }
    let listen_fd = match std::env::var_os("LISTEN_FDS_FIRST_FD") {
        None => SD_LISTEN_FDS_START,
        Some(first) => first
            .to_str()
            .and_then(|first| first.parse().ok())
            .filter(|&first| first >= SD_LISTEN_FDS_START)
            .ok_or_else(|| {
                invalid(format!(
                    "LISTEN_FDS_FIRST_FD={} is not a descriptor number from 3 up",
                    first.to_string_lossy()
                ))
            })?,
    };
    if !is_listening_tcp(listen_fd) {
        return Err(invalid(format!(
            "LISTEN_FDS=1 but fd {listen_fd} is not a listening TCP socket"
        )));
    }
    // SAFETY: the fd was handed to this process to own (the protocol's contract), it is open
    // (it answered getsockopt) and TAKEN guarantees nothing else here takes it.
    let fd = unsafe { OwnedFd::from_raw_fd(listen_fd) };
    set_close_on_exec(fd.as_raw_fd(), true)?;
    let listener = std::net::TcpListener::from(fd);
    listener.set_nonblocking(true)?;
    Ok(Some(listener))
}

#[allow(unsafe_code, reason = "getsockopt through libc")]
fn is_listening_tcp(fd: RawFd) -> bool {
    let option = |name| {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `value`; a bad fd is an error.
        let status = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        (status == 0).then_some(value)
    };
    let tcp = matches!(
        option(libc::SO_DOMAIN),
        Some(libc::AF_INET | libc::AF_INET6)
    ) && option(libc::SO_TYPE) == Some(libc::SOCK_STREAM);
    tcp && option(libc::SO_ACCEPTCONN) == Some(1)
}

#[allow(unsafe_code, reason = "fcntl through libc")]
fn set_close_on_exec(fd: RawFd, close: bool) -> io::Result<()> {
    let flags = if close { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: F_SETFD only changes the descriptor's flags; a bad fd is an error.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Replaces this process's image with a fresh start of its own binary, same arguments, same
/// environment plus `LISTEN_FDS=1`, `LISTEN_PID` and `LISTEN_FDS_FIRST_FD` (the descriptor of
/// `listener`, left open across the exec): the new image serves the connections waiting in its
/// backlog. Returns only if the exec failed.
///
/// Call it once the server has drained and its store is released: everything else this
/// process holds is gone once the exec succeeds (std opens files close-on-exec).
pub(crate) fn exec_self(listener: std::net::TcpListener) -> io::Error {
    use std::os::unix::process::CommandExt;

    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    // The binary by the path it was started with, when it was started with a path: after an
    // upgrade replaced that file, the path names the new binary, while `current_exe` (Linux's
    // /proc/self/exe) names the old one, unlinked ("… (deleted)"), which cannot be executed.
    // A bare name (found on PATH) gives no such path; then `current_exe`.
    let binary = if std::path::Path::new(&arg0).components().count() > 1 {
        std::path::PathBuf::from(&arg0)
    } else {
        match std::env::current_exe() {
            Ok(binary) => binary,
            Err(error) => return error,
        }
    };
    let fd = OwnedFd::from(listener);
    // Only this descriptor changes: no other thread uses it since the accept loop ended.
    if let Err(error) = set_close_on_exec(fd.as_raw_fd(), false) {
        return error;
    }
    let mut command = std::process::Command::new(&binary);
    command
        .arg0(&arg0)
        .args(args)
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", std::process::id().to_string())
        .env("LISTEN_FDS_FIRST_FD", fd.as_raw_fd().to_string())
        .env_remove("LISTEN_FDNAMES");
    tracing::info!(binary = %binary.display(), "restarting: executing the binary again");
    let error = command.exec();
    // Still here: the exec failed; `fd` closes now, and with it the listener.
    drop(fd);
    io::Error::new(
        error.kind(),
        format!("restart: cannot execute {}: {error}", binary.display()),
    )
}
