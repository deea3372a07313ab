-- Shared by the mixed-load scripts (bench/bench_mixed.py): loaded by each script with dofile, in wrk's main Lua
-- state (setup, done) and in each thread's state (init, request, response).
--
-- Each thread counts the answers by status and keeps the first few bodies of failed answers; done() collects those
-- from every thread (thread:get copies tables between Lua states) and writes one JSON summary to the file named
-- by the thread's `out` global (set by the script's init from its arguments): requests, duration, wrk's error
-- counts, the latency percentiles of this process's histogram, the status counts.

local common = {}

statuses = {}   -- per thread: status -> count
failures = {}   -- per thread: the first few failed answers, "status body…"

function common.record(status, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status >= 400) and #failures < 8 then
    failures[#failures + 1] = tostring(status) .. " " .. string.sub(body or "", 1, 400)
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local counts, bad, out, extra = {}, {}, nil, {}
  for _, t in ipairs(threads) do
    out = out or t:get("out")
    for status, n in pairs(t:get("statuses") or {}) do
      counts[status] = (counts[status] or 0) + n
    end
    for _, f in ipairs(t:get("failures") or {}) do
      bad[#bad + 1] = json_string(f)
    end
    for k, v in pairs(t:get("extra") or {}) do
      extra[k] = (extra[k] or 0) + v
    end
  end
  local parts = {}
  for status, n in pairs(counts) do parts[#parts + 1] = string.format('"%d":%d', status, n) end
  local ex = {}
  for k, v in pairs(extra) do ex[#ex + 1] = string.format('%s:%d', json_string(k), v) end
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({50, 90, 95, 99, 99.9}) do
    pct[#pct + 1] = string.format('"%s":%.1f', tostring(p), latency:percentile(p))
  end
  local f = assert(io.open(out, "w"))
  f:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%.1f,"mean":%.1f,"max":%.1f,"stdev":%.1f,"percentiles":{%s}},' ..
    '"statuses":{%s},"failures":[%s],"extra":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev, table.concat(pct, ","),
    table.concat(parts, ","), table.concat(bad, ","), table.concat(ex, ",")))
  f:close()
end

return common
