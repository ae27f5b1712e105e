//! Running one child process and measuring it as a whole: wall time from just before `fork`
//! to its reaping, its own peak RSS and CPU time (from `wait4`, so no other process is
//! counted), and the CPU time this process spent meanwhile (the in-process sandbox).
//!
//! Peak RSS needs care. Linux carries the RSS high-water mark of the image a process replaced
//! at `exec` into its `ru_maxrss`, and `std::process::Command` spawns with the parent's
//! memory (vfork-like), so a child of this process reports at least *our* peak (sandbox and
//! all). Streaming runs are therefore started through `rss-probe`: a fresh, small copy of
//! this binary that spawns the real child, reaps it with `wait4` and writes its peak RSS to
//! a file. The child's figure then has the probe's few MiB as its floor, not ours.
//!
//! The only `unsafe` of the crate lives here: std exposes neither `wait4` nor `getrusage`, nor
//! `sched_setaffinity` (for `--cpus`).
#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// What one run of a child cost.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// How it ended.
    pub status: ExitStatus,
    /// From just before spawning to reaping.
    pub wall: Duration,
    /// The child's peak resident set size, in KiB.
    pub max_rss_kib: u64,
    /// The child's CPU time, user + system.
    pub child_cpu: Duration,
    /// CPU time of this process (the in-process sandbox serving the child) meanwhile.
    pub self_cpu: Duration,
}

/// Spawns `cmd` and waits for it. Its stdio must already be set (files, not pipes that need
/// draining while it runs).
pub fn run(cmd: &mut Command) -> io::Result<Measured> {
    let self_before = self_cpu()?;
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid =
        libc::pid_t::try_from(child.id()).map_err(|_| io::Error::other("child pid does not fit pid_t"))?;
    let (raw_status, usage) = wait4(pid)?;
    let wall = start.elapsed();
    // Already reaped by `wait4`; dropping `Child` does not wait again.
    drop(child);
    Ok(Measured {
        status: ExitStatus::from_raw(raw_status),
        wall,
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        child_cpu: cpu_of(&usage),
        self_cpu: self_cpu()?.saturating_sub(self_before),
    })
}

/// Flags of the hidden `rss-probe` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// File to write the child's peak RSS (KiB) to.
    #[arg(long)]
    pub report: std::path::PathBuf,
    /// The program to run and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// Runs `command` with our stdio, writes its peak RSS to `report`, and exits as it did.
pub fn probe_main(args: &ProbeArgs) -> anyhow::Result<std::process::ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        anyhow::bail!("rss-probe needs a command");
    };
    let measured = run(Command::new(program).args(rest))?;
    std::fs::write(&args.report, measured.max_rss_kib.to_string())?;
    let code = measured
        .status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1);
    Ok(std::process::ExitCode::from(code))
}

fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the right types; `pid` is our
        // own child, which nothing else reaps.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((status, usage));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// CPU time (user + system) of this whole process so far.
fn self_cpu() -> io::Result<Duration> {
    // SAFETY: as in `wait4`, all-zero is a valid `rusage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live, writable local of the right type.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cpu_of(&usage))
}

fn cpu_of(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Restricts this process, and so the in-process sandbox and every child started afterwards
/// (affinity is inherited), to the given CPUs.
pub fn pin_to(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is a plain C bit set, for which all-zero (the empty set) is valid.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::other(format!("CPU {cpu} is out of range")));
        }
        // SAFETY: `cpu` is below CPU_SETSIZE, checked above, so the bit is inside `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a live, initialised `cpu_set_t` and the size passed is its own.
    let done = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
