-- wrk -t2 -c64 -d10s -s post-flow.lua http://127.0.0.1:18181/failover
-- TOKEN (a bearer token) comes from the environment; each request is a one-step SMS flow.
-- With KEYS=1 every request carries its own Idempotency-Key, as `cascade send --csv` does.
-- With UNIQUE=1 every message has its own text (an SMSC may take identical messages from
-- one sender to one number, in flight together, for one; external-smsc.sh).
local token = os.getenv("TOKEN")
local keys = os.getenv("KEYS") == "1"
local unique = os.getenv("UNIQUE") == "1"
local body = '{"flow":[{"type":"Sms","order":1,"from":"Cascade","to":"+306912345678","message":{"body":"bench"}}]}'
local function body_of(n)
  if not unique then
    return body
  end
  return '{"flow":[{"type":"Sms","order":1,"from":"Cascade","to":"+306912345678","message":{"body":"bench '
    .. tostring(tid) .. "-" .. tostring(n) .. '"}}]}'
end
local n = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function request()
  n = n + 1
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  if keys then
    headers["Idempotency-Key"] = "wrk-" .. tostring(tid) .. "-" .. tostring(n) .. "-" .. tostring(os.time())
  end
  return wrk.format("POST", nil, headers, body_of(n))
end

local errors = 0
function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  end
end
