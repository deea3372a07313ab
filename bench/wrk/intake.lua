-- Intake in the mixed load: POST /api/v1/cases as several reporters (tokens), a random leaf category and a point
-- inside a grid, each with an Idempotency-Key of its own (as a phone sends it: a retry never files twice).
--
--   wrk -t1 -cN -dS -s bench/wrk/intake.lua URL -- <intake-data.lua> <summary.json> <seed>
-- The data file returns {tokens = {...}, cats = {...}, pts = {{lon, lat}, ...}}.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local data, n, prefix

function init(args)
  data = dofile(args[1])
  out = args[2]
  math.randomseed(tonumber(args[3]) or 1)
  -- unique across runs and processes: the seed (pid of the bench) and the clock
  prefix = "mixed-" .. tostring(args[3]) .. "-" .. tostring(os.time())
  n = 0
end

function request()
  n = n + 1
  local p = data.pts[math.random(#data.pts)]
  local c = data.cats[math.random(#data.cats)]
  local body = string.format(
    '{"category_code":"%s","description":"混合压测上报 %d：路面有积水，影响通行","lon":%.6f,"lat":%.6f}',
    c, n, p[1], p[2])
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. data.tokens[math.random(#data.tokens)],
    ["Idempotency-Key"] = prefix .. "-" .. n,
  }
  return wrk.format("POST", "/api/v1/cases", headers, body)
end

function response(status, headers, body)
  common.record(status, body)
end
