-- wrk script: the gateway's /healthz with the same Authorization header as the decision scripts (the reference).
local token = os.getenv("WRK_TOKEN") or "bench-token-0123456789abcdef0123"
request = function()
  return wrk.format("GET", "/healthz", {["Authorization"]="Bearer " .. token})
end
