// Starts `outcall demo` (the real server with its Twilio and ElevenLabs simulators)
// on a free loopback port with a fresh database, and a headless Debian Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const API_KEY = "e2e-key";
export const screenshotDir = process.env.OUTCALL_SCREENSHOTS ?? join(repo, "target/screenshots");
const binary = process.env.OUTCALL_BIN ?? join(repo, "target/debug/outcall");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function waitForHealth(base, child, log) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`outcall demo exited (${child.exitCode}):\n${log()}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`outcall demo did not answer /healthz within 60 s:\n${log()}`);
}

/// The demo server: `{base, stop()}`.
export async function startDemo() {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run cargo build -p outcall-server first`);
  const dir = mkdtempSync(join(tmpdir(), "outcall-e2e-"));
  const port = await freePort();
  let output = "";
  // Its own working directory, so no .env of the repository is read.
  const child = spawn(
    binary,
    ["demo", "--port", String(port), "--api-key", API_KEY, "--database-url", `sqlite://${join(dir, "demo.db")}`, "--calls-per-minute", "20"],
    { cwd: dir, env: { ...process.env, RUST_LOG: "warn", HOST: "127.0.0.1" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  await waitForHealth(base, child, () => output);
  return {
    base,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/// A browser context already signed in (the key in sessionStorage, as the sign-in page leaves it).
export async function signedInContext(browser, options = {}) {
  const context = await browser.newContext(options);
  await context.addInitScript((key) => sessionStorage.setItem("outcall.apiKey", key), API_KEY);
  return context;
}

/// Calls the API directly (to prepare or check data behind the page's back).
export async function api(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${API_KEY}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.json();
}
