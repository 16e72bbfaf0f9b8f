-- Namespace slacker.example.counter: a stateful namespace. A file that
-- returns nothing exports the global functions it defines; _options tunes
-- how the server runs it.
_options = {
  stateful = true, -- one VM, calls one at a time, state kept between calls
  timeout = 2,     -- seconds a call may run
}

local count = 0

--- Adds amount (default 1) to the counter and returns the new value.
function inc(amount)
  count = count + (amount or 1)
  slacker.log.info("counter increased", "by", amount or 1, "now", count)
  return count
end

--- Returns the counter.
function get()
  return count
end

--- Adds one and returns the value with the time, read from another
--- namespace through slacker.call.
function stamp()
  return { count = inc(1), at = slacker.call("slacker.example.api/timestamp") }
end
