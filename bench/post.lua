-- post.lua: wrk script posting one fixed webhook.
--   wrk -s bench/post.lua URL -- BODY_FILE [Header:Value ...]
-- At the end it prints one JSON line (prefix "WRK_JSON ") with the figures
-- bench/bench_gateway.py reads: requests, duration, errors, latency percentiles.
local body, headers = nil, {["Content-Type"] = "application/json"}

function init(args)
   local f = assert(io.open(args[1], "rb"))
   body = f:read("*a")
   f:close()
   for i = 2, #args do
      local k, v = args[i]:match("^([^:]+):(.*)$")
      headers[k] = v
   end
end

function request()
   return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
      '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
end
