-- wrk script for bench/run.py: ACP requests with a JSON summary from done().
--
-- usage: wrk -s bench/acp.lua URL -- PREFIX API_KEY API_VERSION [PATHS=/a,/b,...] [BODY ...]
-- With no BODY the request is a GET of the URL's path. With bodies it is a POST
-- cycling through them (request n sends body n mod count), each with a unique
-- Idempotency-Key "PREFIX-<thread>-<n>". PATHS: the requests cycle through these
-- paths instead of the URL's (many sessions rather than one). Responses outside
-- 2xx are counted.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state)
non2xx = 0
first_bad = 0
local n = 0
local prefix, bodies, headers, paths

function init(args)
  prefix = args[1]
  headers = {
    ["Authorization"] = "Bearer " .. args[2],
    ["API-Version"] = args[3],
  }
  bodies = {}
  paths = {}
  local first = 4
  if args[4] and string.sub(args[4], 1, 6) == "PATHS=" then
    for path in string.gmatch(string.sub(args[4], 7), "[^,]+") do
      table.insert(paths, path)
    end
    first = 5
  end
  for i = first, #args do
    table.insert(bodies, args[i])
  end
  if #bodies > 0 then
    headers["Content-Type"] = "application/json"
  end
end

function request()
  n = n + 1
  local path = wrk.path
  if #paths > 0 then
    path = paths[((n * 2 + tid) % #paths) + 1]
  end
  if #bodies == 0 then
    return wrk.format("GET", path, headers)
  end
  headers["Idempotency-Key"] = string.format("%s-%d-%d", prefix, tid, n)
  return wrk.format("POST", path, headers, bodies[(n % #bodies) + 1])
end

function response(status, hdrs, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == 0 then
      first_bad = status
    end
  end
end

function done(summary, latency, requests)
  local bad, bad_status = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    if bad_status == 0 then
      bad_status = thread:get("first_bad")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"non_2xx":%d,"first_non_2xx_status":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, bad, bad_status))
end
