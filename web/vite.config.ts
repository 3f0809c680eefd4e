import { defineConfig } from "vite";

// `npm run dev` serves the dashboard with hot reload and forwards the API and
// Socket.IO to a running `outcall` (OUTCALL_URL, default the demo's address).
const target = process.env.OUTCALL_URL ?? "http://127.0.0.1:3000";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { chunkSizeWarningLimit: 600 },
  server: {
    proxy: {
      "/api": target,
      "/healthz": target,
      "/socket.io": { target, ws: true },
    },
  },
});
