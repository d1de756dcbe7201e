--- Validation of registry input: repository names, tags, digests, upload ids.
--
-- Each check returns a true value on success, or nil, a message naming the
-- value and the registry contract's code (`name_invalid`, `tag_invalid`,
-- `digest_invalid`). They never raise: a wrong Lua type is the caller's to
-- reject (the stores raise for it before calling here).

local validate = {}

local MAX_NAME = 255

-- Shortens a value for a message, so that a huge input gives a short one.
local function show(s)
  if type(s) ~= "string" then return tostring(s) end
  if #s > 80 then s = s:sub(1, 77) .. "..." end
  return string.format("%q", s)
end
validate.show = show

local function fail(code, what, s, why)
  return nil, string.format("regstore: invalid %s %s: %s", what, show(s), why), code
end

-- One path component of distribution's reference grammar:
--   [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*
local function component_ok(c)
  if c == "" then return false, "empty path component" end
  if not c:find("^[a-z0-9]") or not c:find("[a-z0-9]$") then
    return false, "a component must start and end with a lowercase letter or digit"
  end
  if c:find("[^a-z0-9._-]") then
    return false, "only lowercase letters, digits and the separators . _ __ - are allowed"
  end
  for sep in c:gmatch("[._-]+") do
    if not (sep == "." or sep == "_" or sep == "__" or sep:find("^%-+$")) then
      return false, "bad separator " .. show(sep)
    end
  end
  return true
end

--- Repository name: components separated by "/", at most 255 characters.
function validate.name(s)
  if type(s) ~= "string" then return fail("name_invalid", "repository name", s, "not a string") end
  if s == "" then return fail("name_invalid", "repository name", s, "empty") end
  if #s > MAX_NAME then
    return fail("name_invalid", "repository name", s, "longer than 255 characters")
  end
  -- "a//b", "/a", "a/" have an empty component
  local start = 1
  while true do
    local slash = s:find("/", start, true)
    local c = s:sub(start, (slash or 0) - 1)
    local ok, why = component_ok(c)
    if not ok then return fail("name_invalid", "repository name", s, why) end
    if not slash then break end
    start = slash + 1
  end
  return true
end

--- Tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
function validate.tag(s)
  if type(s) ~= "string" then return fail("tag_invalid", "tag", s, "not a string") end
  if #s < 1 or #s > 128 or not s:find("^[%w_][%w._-]*$") then
    return fail("tag_invalid", "tag", s, "must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
  end
  return true
end

local HEX_LEN = { sha256 = 64, sha512 = 128 }

--- Digest: "sha256:" + 64 lowercase hex, or "sha512:" + 128.
-- Returns the algorithm and the hex part.
function validate.digest(s)
  if type(s) ~= "string" then return fail("digest_invalid", "digest", s, "not a string") end
  local alg, hex = s:match("^([a-z0-9]+):(.*)$")
  local want = alg and HEX_LEN[alg]
  if not want then
    return fail("digest_invalid", "digest", s, "expected sha256:<64 hex> or sha512:<128 hex>")
  end
  if #hex ~= want or hex:find("[^0-9a-f]") then
    return fail("digest_invalid", "digest", s,
      string.format("%s needs %d lowercase hex characters", alg, want))
  end
  return alg, hex
end

--- Upload id: a uuid as made by regstore.uuid() (lowercase or uppercase hex).
function validate.upload_id(s)
  return type(s) == "string"
    and s:find("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") ~= nil
end

--- Raises a luaL_argerror-style error unless v has the type wanted.
-- `optional` admits nil. `level` is the stack level of the public method's
-- caller relative to this function's caller (default 3: the caller's caller).
function validate.arg(v, wanted, n, fname, optional, level)
  local t = type(v)
  if t == wanted or (optional and v == nil) then return v end
  error(string.format("bad argument #%d to '%s' (%s expected, got %s)",
    n, fname, wanted, t == "nil" and "no value" or t), level or 3)
end

--- A store method's digest argument: raises on a wrong type (blaming the
-- method's caller), else validate.digest's answer.
function validate.digest_arg(digest, fname)
  validate.arg(digest, "string", 1, fname, false, 4)
  return validate.digest(digest)
end

return validate
