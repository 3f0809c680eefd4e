-- wrk script: each thread POSTs PER_THREAD calls with unique callSids to
-- /api/db/calls, then stops. Statuses cycle so that status filters select a share.
-- Usage: wrk -t2 -c16 -d600s --latency -s bench/post_calls.lua URL -- PER_THREAD KEY
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local statuses = { "completed", "completed", "completed", "busy", "no-answer", "failed", "in-progress", "canceled" }

function init(args)
  per_thread = tonumber(args[1]) or 50000
  key = args[2] or "bench-key"
  sent = 0
  answered = 0
  failed = 0
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"callSid":"CA%02d%030d","from":"+15005550006","to":"+1415555%04d","status":"%s"}',
    id, sent, sent % 10000, statuses[(sent % #statuses) + 1])
  return wrk.format("POST", "/api/db/calls",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 201 then failed = failed + 1 end
  if answered >= per_thread then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local failures = 0
  for _, t in ipairs(threads) do failures = failures + t:get("failed") end
  io.write(string.format("non-201 answers: %d\n", failures))
end
