// A Socket.IO client for the outcall tests: the official socket.io-client v4.
//
//   node client.mjs URL [TOKEN] [SUBSCRIPTION...]
//
// Connects to URL with auth {token: TOKEN} (no auth at all when TOKEN is "-"), sends
// each SUBSCRIPTION (`subscribe_to_calls`, or `subscribe_to_call=CA…` with an argument)
// asking for an ack, and prints one JSON line per thing that happens, in order:
//   {"event":"connect"}
//   {"event":"ack","subscription":…,"answer":…}
//   {"event":"ready"}                      once every subscription is acknowledged
//   {"event":"<name>","payload":…}         each event the server emits
//   {"event":"connect_error","message":…}  then exits with status 0
// It runs until killed.
import { io } from "socket.io-client";

const [url, token, ...subscriptions] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const options = { reconnection: false, timeout: 5000 };
if (token && token !== "-") options.auth = { token };
const socket = io(url, options);

socket.onAny((event, payload) => print({ event, payload }));

socket.on("connect_error", (err) => {
  print({ event: "connect_error", message: err.message });
  process.exit(0);
});

socket.on("connect", async () => {
  print({ event: "connect" });
  for (const subscription of subscriptions) {
    const [name, arg] = subscription.split("=");
    const answer = arg === undefined
      ? await socket.timeout(5000).emitWithAck(name)
      : await socket.timeout(5000).emitWithAck(name, arg);
    print({ event: "ack", subscription, answer });
  }
  print({ event: "ready" });
});
