-- make bench's wrk script. Arguments after `--`:
--   requests FILE [once]     make the requests listed in FILE in turn, one a line: METHOD, a tab,
--                            the path and, for a request with a body, a tab and the body; with
--                            `once`, each only once (confirms of fresh Drafts): a request past the
--                            end of the list starts it again and is counted in "repeats"
--   create TEMPLATE PREFIX   POST the JSON TEMPLATE, its {ref} made unique (PREFIX-thread-n) and
--                            its {day} spread over 2,000 days, so capacity never runs out
-- done() prints one JSON line: requests/s, mean, p50 and p99 latency in ms, requests completed,
-- errors (failed connections and non-2xx/3xx answers) and repeats. Run with one thread (-t1):
-- the threads would each walk the whole list.

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

local listed, once, template, prefix, n = {}, false, nil, nil, 0
local first_day = os.time{year = 2031, month = 1, day = 1, hour = 12}
repeats = 0  -- global: done() reads it from each thread

local function next_listed()
  n = n + 1
  if once and n > #listed then
    repeats = repeats + 1
  end
  return listed[(n - 1) % #listed + 1]
end

local function create()
  n = n + 1
  local day = os.date("%Y-%m-%d", first_day + (n % 2000) * 86400)
  local body = template:gsub("{ref}", prefix .. "-" .. id .. "-" .. n):gsub("{day}", day)
  return wrk.format("POST", nil, nil, body)
end

function init(args)
  if args[1] == "requests" then
    for line in io.lines(args[2]) do
      local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
      if method then
        listed[#listed + 1] = wrk.format(method, path, nil, body ~= "" and body or nil)
      end
    end
    once = args[3] == "once"
    request = next_listed
  else
    template, prefix = args[2], args[3]
    request = create
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local repeated = 0
  for _, thread in ipairs(threads) do
    repeated = repeated + (thread:get("repeats") or 0)
  end
  io.write(string.format(
    '{"rps": %.1f, "mean": %.3f, "p50": %.3f, "p99": %.3f, "requests": %d, "errors": %d, "repeats": %d}\n',
    summary.requests / summary.duration * 1e6, latency.mean / 1000, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, e.connect + e.read + e.write + e.status + e.timeout, repeated))
end
