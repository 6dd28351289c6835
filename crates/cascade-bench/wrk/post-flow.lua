-- wrk -t2 -c64 -d10s -s post-flow.lua http://127.0.0.1:18181/failover
-- TOKEN (a bearer token) comes from the environment; each request is a one-step SMS flow.
-- With KEYS=1 every request carries its own Idempotency-Key, as `cascade send --csv` does.
-- With NUMBERS=1 every flow goes to a random number (+3069 and 8 digits: nearly every
-- one new to the store) instead of the same one.
local token = os.getenv("TOKEN")
local keys = os.getenv("KEYS") == "1"
local numbers = os.getenv("NUMBERS") == "1"
local body = '{"flow":[{"type":"Sms","order":1,"from":"Cascade","to":"+306912345678","message":{"body":"bench"}}]}'
local before = '{"flow":[{"type":"Sms","order":1,"from":"Cascade","to":"+3069'
local after = '","message":{"body":"bench"}}]}'
local n = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
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
  if numbers then
    return wrk.format("POST", nil, headers, before .. string.format("%08d", math.random(0, 99999999)) .. after)
  end
  return wrk.format("POST", nil, headers, body)
end

local errors = 0
function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  end
end
