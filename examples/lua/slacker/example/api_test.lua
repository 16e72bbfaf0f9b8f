-- Tests of slacker.example.api.
local function api(fn, ...)
  return slacker.call("slacker.example.api/" .. fn, ...)
end

function test_timestamp(t)
  local before = slacker.now()
  local ts = api("timestamp")
  t:ok(type(ts) == "number", "a number of milliseconds")
  t:near(ts, before, 60 * 1000, "the clock of the server")
end

function test_echo(t)
  t:eq(api("echo", "hello"), "hello")
  t:eq(api("echo", 1, 2), { 1, 2 })
  t:eq(api("echo", { a = 1, list = { "x", "y" } }), { a = 1, list = { "x", "y" } })
end

function test_rand_ints(t)
  local xs = api("rand-ints", 5)
  t:eq(#xs, 5)
  for _, x in ipairs(xs) do
    t:ok(x >= 0 and x < 2147483647, x)
  end
end

function test_make_error(t)
  t:errors("Expected exception", api, "make-error")
end

function test_nil_and_zero(t)
  t:eq(api("return-nil"), nil)
  t:eq(api("return-zero"), 0)
end

function test_private_functions_are_not_found(t)
  t:errors("not.found", api, "_unreachable") -- "not found" here, "not-found" from a server
end
