//! Release builds of `nodehost` on Linux:
//!
//! - store their debug sections zlib-compressed (the standard library's backtrace reads them so):
//!   panic backtraces keep file and line at a fraction of the size;
//! - with lld (Rust's default linker on x86_64 Linux since 1.90), place the functions that short
//!   commands execute (`link/startup-order.txt`, written by `scripts/startup-order`) first and
//!   together, so a one-item run maps a few MiB of contiguous code instead of pages scattered
//!   over the whole binary. Functions the list names and the build lacks are skipped, so a stale
//!   list costs part of the gain, never the build;
//! - pack their relative relocations (`-z pack-relative-relocs`, DT_RELR) when the glibc they
//!   link against loads them (2.36 or later): the dynamic loader then reads a few KiB instead
//!   of 24,000 24-byte entries (0.6 MB) at every start. The binary then needs glibc 2.36 where
//!   it runs, and says so when it is missing (`version GLIBC_ABI_DT_RELR not found`) instead
//!   of starting broken; `NODEHOST_NO_RELR=1` builds one for older systems.
//!
//! Debug builds are left alone, as both cost link time on every test binary.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=PROFILE");
    println!("cargo:rerun-if-env-changed=NODEHOST_NO_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=NODEHOST_NO_RELR");
    println!("cargo:rerun-if-changed=link/startup-order.txt");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(release && linux) {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
    if glibc_loads_relr() && env::var_os("NODEHOST_NO_RELR").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("link/startup-order.txt");
    if order.is_file() && links_with_lld() && env::var_os("NODEHOST_NO_SYMBOL_ORDER").is_none() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the link uses lld: the default of x86_64-unknown-linux-gnu, unless the build names
/// another linker (`-C linker=`, `-C linker-features=-lld`, a `CARGO_TARGET_…_LINKER`).
/// `--symbol-ordering-file` is an lld option; GNU ld would reject it.
fn links_with_lld() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let linker_var = format!("CARGO_TARGET_{}_LINKER", target.to_uppercase().replace('-', "_"));
    let named_linker = env::var_os(linker_var).is_some() || flags.contains("linker=");
    let lld_off = flags.contains("-lld") || flags.contains("link-self-contained=-linker");
    let lld_named = flags.contains("lld");
    if lld_named && !lld_off {
        return true;
    }
    target == "x86_64-unknown-linux-gnu" && !named_linker && !lld_off
}

/// Whether the binary is built for the glibc of this machine and that glibc (2.36 or later)
/// applies DT_RELR relocations. A cross build, another libc or an unknown version: no.
fn glibc_loads_relr() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let host = env::var("HOST").unwrap_or_default();
    if target != host || !target.ends_with("-linux-gnu") {
        return false;
    }
    let Ok(out) = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
    else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .trim()
        .strip_prefix("glibc ")
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse::<u32>().ok());
    matches!((version.next(), version.next()), (Some(Some(major)), Some(Some(minor))) if (major, minor) >= (2, 36))
}
