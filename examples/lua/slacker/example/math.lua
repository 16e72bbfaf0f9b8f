-- Namespace slacker.example.math: small functions, and a module from _lib.
local text = require("util.text")

local M = {}

--- Returns a + b.
function M.add(a, b)
  return a + b
end

--- Counts the words of s.
function M.wordcount(s)
  return #text.words(s)
end

--- Sums any number of arguments.
function M.sum(...)
  local total = 0
  for _, v in ipairs({ ... }) do
    total = total + v
  end
  return total
end

return M
