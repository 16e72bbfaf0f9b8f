-- Namespace slacker.example.api: the functions of slacker's own example,
-- in Lua. A file that returns a table exports that table's functions.
local M = {}

--- Returns the server's clock in Unix milliseconds.
function M.timestamp()
  return slacker.now()
end

--- Returns its argument, or both arguments as a list.
function M.echo(x, y)
  if y == nil then
    return x
  end
  return { x, y }
end

--- Returns n random non-negative integers.
M["rand-ints"] = function(n)
  local out = slacker.array()
  for i = 1, n do
    out[i] = math.random(0, 2147483646)
  end
  return out
end

--- Fails on purpose: the caller gets the error message.
M["make-error"] = function()
  error("Expected exception.")
end

--- Returns nil.
M["return-nil"] = function()
  return nil
end

--- Returns zero.
M["return-zero"] = function()
  return 0
end

--- Runs until the call's deadline stops it.
M["long-running"] = function()
  while true do end
end

-- Names starting with an underscore are private: not callable remotely.
function M._unreachable()
  return true
end

return M
