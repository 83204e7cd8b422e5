-- wrk script for bench/webhooks.py: POSTs one signed workflow_job body, each time under a new
-- X-GitHub-Delivery id, until this thread has had `quota` responses; then it stops.
--
-- Arguments (after `--`): body_file signature quota delivery_prefix
-- Once a thread has sent its quota, request() returns an empty request: nothing is written and the
-- connection waits idle until the thread stops, so no extra delivery is ever sent.

local thread_count = 0

function setup(thread)
   thread:set("thread_id", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   local file = assert(io.open(args[1], "rb"))
   body = file:read("*a")
   file:close()
   headers = {
      ["Content-Type"] = "application/json",
      ["X-GitHub-Event"] = "workflow_job",
      ["X-Hub-Signature-256"] = args[2],
   }
   quota = tonumber(args[3])
   prefix = args[4] .. "-" .. thread_id .. "-"
   sent = 0
   received = 0
end

function request()
   if sent >= quota then
      return ""
   end
   sent = sent + 1
   headers["X-GitHub-Delivery"] = prefix .. sent
   return wrk.format("POST", nil, headers, body)
end

function response(status, response_headers, response_body)
   received = received + 1
   if received >= quota then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local quantiles = {}
   for _, p in ipairs({50, 95, 99}) do
      quantiles[#quantiles + 1] = string.format('"p%d_us": %d', p, latency:percentile(p))
   end
   io.write(string.format(
      'WRK_RESULT {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
         .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "max_us": %d, %s}\n',
      summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
      summary.errors.write, summary.errors.status, summary.errors.timeout, latency.max,
      table.concat(quantiles, ", ")))
end
