-- wrk script: POSTs calls with unique callSids to /api/db/calls for wrk's duration.
-- RUN keeps callSids unique across runs. Statuses cycle so that status filters select a share.
-- Usage: wrk -t2 -c16 -d10s --latency -s bench/post_calls.lua URL -- RUN KEY
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local statuses = { "completed", "completed", "completed", "busy", "no-answer", "failed", "in-progress", "canceled" }

function init(args)
  run = tonumber(args[1]) or 0
  key = args[2] or "bench-key"
  sent = 0
  answered = 0
  failed = 0
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"callSid":"CA%04d%02d%026d","from":"+15005550006","to":"+1415555%04d","status":"%s"}',
    run, id, sent, sent % 10000, statuses[(sent % #statuses) + 1])
  return wrk.format("POST", "/api/db/calls",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 201 then failed = failed + 1 end
end

function done(summary, latency, requests)
  local failures = 0
  for _, t in ipairs(threads) do failures = failures + t:get("failed") end
  io.write(string.format("non-201 answers: %d\n", failures))
end
