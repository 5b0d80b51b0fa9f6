-- wrk script: one rate-limit check per request over 10,000 keys (the benchmark's own body).
-- TOKEN: a client token of the gateway (env WRK_TOKEN, default the benchmark's).
local token = os.getenv("WRK_TOKEN") or "bench-token-0123456789abcdef0123"
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"tenant":"bench","policy":"api","key":"k' .. (counter % 10000) .. '"}'
  return wrk.format("POST", "/v1/ratelimit/check", {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. token}, body)
end
