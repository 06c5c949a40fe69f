-- make bench's wrk script. Arguments after `--`:
--   get FILE                 GET the paths listed in FILE (one a line) in turn
--   create TEMPLATE PREFIX   POST the JSON TEMPLATE, its {ref} made unique (PREFIX-thread-n) and
--                            its {day} spread over 2,000 days, so capacity never runs out
-- done() prints one JSON line: requests/s, p50 and p99 in ms, errors.

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local paths, template, prefix, n = {}, nil, nil, 0
local first_day = os.time{year = 2031, month = 1, day = 1, hour = 12}

local function get()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end

local function create()
  n = n + 1
  local day = os.date("%Y-%m-%d", first_day + (n % 2000) * 86400)
  local body = template:gsub("{ref}", prefix .. "-" .. id .. "-" .. n):gsub("{day}", day)
  return wrk.format("POST", nil, nil, body)
end

function init(args)
  if args[1] == "get" then
    for line in io.lines(args[2]) do paths[#paths + 1] = line end
    request = get
  else
    template, prefix = args[2], args[3]
    request = create
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"rps": %.1f, "p50": %.3f, "p99": %.3f, "errors": %d}\n',
    summary.requests / summary.duration * 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
