//! Release builds of `nodehost` store their debug sections zlib-compressed (the standard
//! library's backtrace reads them so): panic backtraces keep file and line at a fraction of the
//! size. Debug builds are left alone, as compressing costs link time on every test binary.

fn main() {
    println!("cargo:rerun-if-env-changed=PROFILE");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
    }
}
