-- Module util.text, loaded with require("util.text") by any namespace of
-- this folder. Files under _lib are modules, never namespaces.
local text = {}

function text.words(s)
  local out = {}
  for w in string.gmatch(s, "%S+") do
    out[#out + 1] = w
  end
  return out
end

return text
