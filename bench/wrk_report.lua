-- wrk's summary as one JSON line, for bench/run.py to read.
-- With env WRK_CITIES=N, requests cycle through N distinct made-up cities (letters only),
-- and with WRK_LIMIT=M each thread stops after M responses.
local cities = tonumber(os.getenv("WRK_CITIES") or "0")
local limit = tonumber(os.getenv("WRK_LIMIT") or "0")
local sent, received = 0, 0

local function city(i)
  local name = ""
  repeat
    name = name .. string.char(97 + i % 26)
    i = math.floor(i / 26)
  until i == 0
  return "Bench" .. name
end

request = function()
  sent = sent + 1
  if cities > 0 then
    return wrk.format("GET", "/" .. city(sent % cities) .. "/gb/")
  end
  return wrk.format("GET")
end

response = function(status, headers, body)
  received = received + 1
  if limit > 0 and received >= limit then
    wrk.thread:stop()
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.6f, "socket_errors": %d, "non_2xx": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
