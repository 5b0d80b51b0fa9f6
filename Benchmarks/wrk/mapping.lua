-- wrk script: mapping lookups over 1,000 identifiers id0..id999 (map them first; see docs/performance.md).
local token = os.getenv("WRK_TOKEN") or "bench-token-0123456789abcdef0123"
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/mappings/id" .. (counter % 1000), {["Authorization"]="Bearer " .. token})
end
