//! Builds the dashboard (`web/`, Vite) into `$OUT_DIR/web` and writes
//! `$OUT_DIR/web_assets.rs`, which embeds every built file in the binary.
//!
//! The build never fails because of the dashboard: without npm, with
//! `OUTCALL_SKIP_WEB_BUILD=1`, or when the front-end build fails, it warns and embeds
//! a page that says how to build it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;
use std::{env, fs};

const WATCHED: [&str; 6] = [
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let web = manifest.join("../../web");
    for name in WATCHED {
        println!("cargo:rerun-if-changed={}", web.join(name).display());
    }
    println!("cargo:rerun-if-env-changed=OUTCALL_SKIP_WEB_BUILD");

    let dist = out.join("web");
    let built = if env::var("OUTCALL_SKIP_WEB_BUILD").is_ok_and(|v| v == "1") {
        Err("OUTCALL_SKIP_WEB_BUILD=1".to_string())
    } else {
        build(&web, &dist)
    };
    let files = match built.and_then(|()| collect(&dist)) {
        Ok(files) => files,
        Err(why) => {
            println!(
                "cargo:warning=the dashboard was not built ({why}); serving a placeholder page"
            );
            placeholder(&out, &why)
        }
    };
    write_manifest(&out.join("web_assets.rs"), &dist, &files);
}

/// Runs `npm ci` when `node_modules` is missing or older than the lock file, then
/// `npm run build` (type check and Vite) into `dist`.
fn build(web: &Path, dist: &Path) -> Result<(), String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let installed = web.join("node_modules/.package-lock.json");
    if modified(&installed) < modified(&web.join("package-lock.json")) {
        run(Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(web))?;
    }
    let _ = fs::remove_dir_all(dist);
    run(Command::new(npm)
        .args(["run", "build", "--", "--emptyOutDir", "--outDir"])
        .arg(dist)
        .current_dir(web))
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{:?}", cmd);
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}; install Node.js 20+ and npm"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout
        .lines()
        .chain(stderr.lines())
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        println!("cargo:warning=  {line}");
    }
    Err(format!("{shown} failed with {}", output.status))
}

/// Every file under `dist`, as paths relative to it with `/` separators.
fn collect(dist: &Path) -> Result<Vec<String>, String> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) -> std::io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, files)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                let parts: Vec<_> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect();
                files.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dist, dist, &mut files).map_err(|e| format!("reading {}: {e}", dist.display()))?;
    files.sort();
    if !files.iter().any(|f| f == "index.html") {
        return Err("the build wrote no index.html".into());
    }
    Ok(files)
}

fn placeholder(out: &Path, why: &str) -> Vec<String> {
    let dist = out.join("web");
    let _ = fs::remove_dir_all(&dist);
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>outcall</title></head>\
<body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem\">\
<h1>The dashboard was not built</h1><p>This outcall binary was compiled without its web dashboard ({}). The API works as usual under <code>/api</code>.</p>\
<p>To include the dashboard, install Node.js 20 or later with npm, then rebuild: <code>cargo build --release</code> (the build runs <code>npm ci</code> and <code>npm run build</code> in <code>web/</code>).</p></body></html>",
        html_escape(why)
    );
    if fs::create_dir_all(&dist)
        .and_then(|()| fs::write(dist.join("index.html"), page))
        .is_err()
    {
        println!("cargo:warning=cannot write the placeholder page");
    }
    vec!["index.html".into()]
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// FNV-1a: a content hash for the `ETag` of files that are not content-addressed.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn write_manifest(target: &Path, dist: &Path, files: &[String]) {
    let mut code = String::from(
        "/// Generated by build.rs: the dashboard's files.\npub static ASSETS: &[Asset] = &[\n",
    );
    for file in files {
        let path = dist.join(file);
        let tag = fs::read(&path).map(|b| fnv(&b)).unwrap_or(0);
        let _ = writeln!(
            code,
            "    Asset {{ path: {file:?}, bytes: include_bytes!({:?}), etag: \"\\\"{tag:016x}\\\"\" }},",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    if let Err(e) = fs::write(target, code) {
        panic!("cannot write {}: {e}", target.display());
    }
}
