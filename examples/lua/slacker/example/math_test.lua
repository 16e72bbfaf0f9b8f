-- Tests of slacker.example.math. Run them with `slacker-lua test examples/lua`,
-- or against a running server with `slacker-lua test --addr 127.0.0.1:2104 examples/lua`.
local function math_call(fn, ...)
  return slacker.call("slacker.example.math/" .. fn, ...)
end

function test_add(t)
  t:eq(math_call("add", 1, 2), 3)
  t:eq(math_call("add", -1, 1), 0)
  t:near(math_call("add", 0.1, 0.2), 0.3, 1e-9)
end

function test_wordcount(t)
  t:eq(math_call("wordcount", "the quick brown fox"), 4)
  t:eq(math_call("wordcount", ""), 0)
end

function test_sum(t)
  t:eq(math_call("sum"), 0)
  t:eq(math_call("sum", 1, 2, 3, 4), 10)
end

function test_add_needs_numbers(t)
  t:errors("cannot perform add", math_call, "add", "one", {})
end
