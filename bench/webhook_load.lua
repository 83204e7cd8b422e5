-- wrk script for bench/webhooks.py: POSTs one signed workflow_job body, each time under a new
-- X-GitHub-Delivery id, until this thread has had its quota of responses; then it stops.
--
-- Arguments (after `--`): body_file signature quotas delivery_prefix done_dir
--   quotas:   comma-separated deliveries per thread (thread i sends the i-th)
--   done_dir: a thread that has all its responses creates done_dir/<thread id>; wrk's main thread
--             sleeps for the whole -d duration, so bench/webhooks.py stops it (SIGINT) once every
--             thread is done. Every 500 responses a thread also writes its count to
--             done_dir/<thread id>.progress: a request lost to a socket error never gets a response,
--             and bench/webhooks.py stops a run that makes no more progress.
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
   local quotas = {}
   for quota in string.gmatch(args[3], "%d+") do
      quotas[#quotas + 1] = tonumber(quota)
   end
   quota = quotas[thread_id + 1]
   prefix = args[4] .. "-" .. thread_id .. "-"
   done_file = args[5] .. "/" .. thread_id
   progress_file = done_file .. ".progress"
   sent = 0
   received = 0
   -- wrk calls request() once in the first thread before the run, to check it; that one is not sent.
   checking = thread_id == 0
end

function request()
   if checking then
      checking = false
      return wrk.format("POST", nil, headers, body)
   end
   if sent >= quota then
      return ""
   end
   sent = sent + 1
   headers["X-GitHub-Delivery"] = prefix .. sent
   return wrk.format("POST", nil, headers, body)
end

function response(status, response_headers, response_body)
   received = received + 1
   if received % 500 == 0 then
      local file = assert(io.open(progress_file, "w"))
      file:write(received)
      file:close()
   end
   if received == quota then
      assert(io.open(done_file, "w")):close()
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
