-- Workflow actions in the mixed load: POST /api/v1/cases/{id}/actions/{action} on existing cases, each as a role
-- the transition table lets take it.
--
-- The steps come from a list prepared by bench/bench_mixed.py: cases fetched by state just before the run
-- (reported -> accept, accepted -> dispatch, dispatched to the handler's department -> start, ... ), interleaved,
-- each case once, so no two requests of the run race for one case. Every successful answer (the case as it is
-- now) queues the case's next step — dispatch after accept, start after dispatch … close after verify — so the
-- list is also refilled by the load itself. Run with one wrk thread: the queues are that thread's.
--
--   wrk -t1 -cN -dS -s bench/wrk/workflow.lua URL -- <workflow-data.lua> <summary.json> <seed>
-- The data file returns {tokens = {role = token}, steps = {{action, case_id, role}, ...},
--                        next = {state = {action, role}}, handler_dept = "CG", bodies = {action = json}}.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local data, pos
local chained = {}   -- steps queued by answers: {action, case_id, role}
local chain_head = 1
local turn = 0
extra = {}           -- per thread: counters reported in the summary (by action, chained, pool left)

function init(args)
  data = dofile(args[1])
  out = args[2]
  pos = 1
end

local function count(key)
  extra[key] = (extra[key] or 0) + 1
end

local function take()
  -- alternate: a chained step (when one is waiting) every other time, else the next prepared one
  turn = turn + 1
  if chain_head <= #chained and (turn % 2 == 0 or pos > #data.steps) then
    local s = chained[chain_head]
    chained[chain_head] = nil
    chain_head = chain_head + 1
    count("chained")
    return s
  end
  if pos <= #data.steps then
    local s = data.steps[pos]
    pos = pos + 1
    return s
  end
  return nil
end

function request()
  local s = take()
  if s == nil then
    -- Both queues are empty: the run outlasted the cases in movable states. Counted; the bench fails the run.
    count("exhausted")
    return wrk.format("GET", "/api/v1/health")
  end
  count("action:" .. s[1])
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. data.tokens[s[3]],
  }
  return wrk.format("POST", "/api/v1/cases/" .. s[2] .. "/actions/" .. s[1], headers, data.bodies[s[1]] or "{}")
end

function response(status, headers, body)
  common.record(status, body)
  if status ~= 200 then return end
  local id = string.match(body, '"id":"([%x%-]+)"')
  local state = string.match(body, '"state":"([%a_]+)"')
  local nxt = state and data.next[state]
  if id == nil or nxt == nil then return end
  if nxt[3] then
    -- a handler's step: only for a case dispatched to the handler's department (a supervised case held by
    -- another department is left alone)
    local dept = string.match(body, '"assignee_department":"([^"]*)"')
    if dept ~= nxt[3] then return end
  end
  chained[#chained + 1] = {nxt[1], id, nxt[2]}
end
