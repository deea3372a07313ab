-- One kind of read of the mixed load: each request is drawn at random from a list prepared by
-- bench/bench_mixed.py (method, path, headers, body), formatted once at start.
--
--   wrk -t1 -cN -dS -s bench/wrk/pick.lua URL -- <requests.lua> <summary.json> <seed>

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local reqs = {}

function init(args)
  local items = dofile(args[1])
  out = args[2]
  math.randomseed(tonumber(args[3]) or 1)
  for i, r in ipairs(items) do
    reqs[i] = wrk.format(r[1], r[2], r[3], r[4])
  end
end

function request()
  return reqs[math.random(#reqs)]
end

function response(status, headers, body)
  common.record(status, body)
end
