-- Tests of slacker.example.counter, a stateful namespace: its count goes on
-- from test to test, so the tests look at differences only.
local function counter(fn, ...)
  return slacker.call("slacker.example.counter/" .. fn, ...)
end

function test_inc(t)
  local before = counter("get")
  t:eq(counter("inc"), before + 1)
  t:eq(counter("inc", 5), before + 6)
  t:eq(counter("get"), before + 6)
end

function test_stamp(t)
  local before = counter("get")
  local s = counter("stamp")
  t:eq(s.count, before + 1)
  t:ok(type(s.at) == "number", "stamp's time, from slacker.example.api")
end
