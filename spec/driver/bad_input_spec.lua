-- Bad input through the Lua API.  A randomized run throws wrong
-- types, NUL bytes, over-long and deeply nested paths, huge, fractional,
-- negative, NaN and infinite sizes and offsets, invalid UTF-8 and hostile
-- option tables (metamethods that raise, that run the collector and hand
-- out strings nothing else holds, fields of the wrong type) at every driver
-- call and every registry call.  Each call must end in a clear error:
--   - an argument of the wrong Lua type raises (the contract's misuse);
--   - a value of the right type that is out of its domain raises or returns
--     nil, a message starting "regstore: " (driver) or a string (registry)
--     and a known code;
--   - never a Lua runtime error from inside the library ("attempt to
--     index ..."), never a crash, and never a change to stored data: a
--     mutating call gets at least one bad argument, and the whole tree (every
--     path and every byte) is compared before and after.
-- The seed is printed; REGSTORE_SEED replays a run (with the same Lua).
-- REGSTORE_BADINPUT_CALLS sets the number of calls (default 3000).
local regstore = require "regstore"
local registry = require "regstore.registry"
local helper = require "helper"

local SEED = tonumber(os.getenv "REGSTORE_SEED") or os.time()
local CALLS = tonumber(os.getenv "REGSTORE_BADINPUT_CALLS") or 3000
local MARK = "HOSTILE-METAMETHOD"

local DRIVER_CODES = {}
for c in ("not_found invalid_path invalid_offset not_dir is_dir exists timeout permission io"):gmatch("%S+") do
  DRIVER_CODES[c] = true
end
local REGISTRY_CODES = {}
for c in ([[name_invalid tag_invalid digest_invalid name_unknown blob_unknown blob_upload_unknown
  size_invalid manifest_invalid manifest_blob_unknown manifest_unknown tag_unknown unsupported]]):gmatch("%S+") do
  REGISTRY_CODES[c] = true
end
for c in pairs(DRIVER_CODES) do REGISTRY_CODES[c] = true end

local rnd
local function pick(t) return t[rnd(#t)] end

-- The valid-path rule of the contract, to keep valid paths away from
-- mutating calls.
local function valid_path(p)
  return type(p) == "string" and #p < 2000 and p:match("^[/A-Za-z0-9._-]+$") ~= nil
    and p:sub(1, 1) == "/" and p:sub(-1) ~= "/" and not p:find("//", 1, true)
end

-- A value of a wrong Lua type for any role (never nil: nil is "absent").
local function wrong_type(except)
  local t = {
    function() return true end, function() return false end, function() return 0 end,
    function() return 1.5 end, function() return -1 end, function() return {} end,
    function() return function() end end, function() return coroutine.create(function() end) end,
    function() return io.stdout end, function() return "5" end, function() return "/a" end,
    function() return 0 / 0 end,
  }
  while true do
    local v = pick(t)()
    if type(v) ~= except then return v end
  end
end

local ODD_NUMBERS = { 0 / 0, math.huge, -math.huge, -1, -0.5, 0.5, 1.5, 2 ^ 53, 2 ^ 53 + 2, 2 ^ 63,
  2 ^ 64, -2 ^ 63, 1e308, -1e308, 5e-324, -0.0 }
if math.maxinteger then
  ODD_NUMBERS[#ODD_NUMBERS + 1] = math.maxinteger
  ODD_NUMBERS[#ODD_NUMBERS + 1] = math.mininteger
end

local function random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(rnd(0, 255)) end
  return table.concat(t)
end

-- Paths that break the rule: every one is invalid.
local function bad_path()
  local k = rnd(12)
  if k == 1 then return "" end
  if k == 2 then return "relative/x" end
  if k == 3 then return "/a\0b" end
  if k == 4 then return "/" .. ("a"):rep(rnd(2000, 70000)) end
  if k == 5 then return ("/d"):rep(rnd(1000, 20000)) end
  if k == 6 then return "/\xff\xfe\xc3(/x" end
  if k == 7 then return "/a/" end
  if k == 8 then return "//a" end
  if k == 9 then return "/a b/\xe2\x82" end
  if k == 10 then return "/caf\xc3\xa9" end
  if k == 11 then return "/x/" .. random_bytes(rnd(1, 40)) .. "\1" end
  return "/a\0"
end

-- A hostile table: metamethods that raise, or that run the collector and
-- hand out fresh strings and odd numbers; or fields of the wrong type.
local function hostile_table(fields)
  local k = rnd(4)
  if k == 1 then
    return setmetatable({}, {
      __index = function() error(MARK .. " __index", 0) end,
      __pairs = function() error(MARK .. " __pairs", 0) end,
      __len = function() error(MARK .. " __len", 0) end,
      __newindex = function() error(MARK .. " __newindex", 0) end,
    }), "meta"
  elseif k == 2 then
    return setmetatable({}, { __index = function()
      collectgarbage()
      local v = rnd(3)
      if v == 1 then return string.format("fresh-%s-%s", regstore.uuid(), ("z"):rep(rnd(0, 80))) end
      if v == 2 then return pick(ODD_NUMBERS) end
      return nil
    end }), "meta"
  elseif k == 3 then
    local t = {}
    -- Option fields are strings, numbers or booleans: these never are.
    for _, f in ipairs(fields) do
      t[f] = pick { {}, function() end, coroutine.create(function() end), io.stdout }
    end
    return t, "type"
  end
  local t = {}
  for _, f in ipairs(fields) do
    if rnd(2) == 1 then t[f] = rnd(2) == 1 and pick(ODD_NUMBERS) or bad_path() end
  end
  return t, "meta"
end

-------------------------------------------------------------------------------
-- Argument roles: each gives a value and how it is bad (nil: a good value;
-- "type": a wrong Lua type; "value": right type, out of domain; "meta": a
-- hostile table).

local ctx -- filled in by setup: paths, digests, the driver, the registry

local ROLES = {}

ROLES.path = {
  good = function()
    return pick { pick(ctx.files), pick(ctx.dirs), "/missing/x", "/", ("/a"):rep(999), ctx.files[1] .. "/under" }
  end,
  bad = function()
    if rnd(4) == 1 then return wrong_type("string"), "type" end
    return bad_path(), "value"
  end,
}
ROLES.data = {
  good = function() return pick { "", "x", random_bytes(rnd(0, 300)), "\xff\xfe\0invalid utf-8" } end,
  bad = function() return wrong_type("string"), "type" end,
}
ROLES.offset = {
  good = function() return pick { nil, 0, 1, 3, 100 } end,
  bad = function()
    if rnd(3) == 1 then return wrong_type("number"), "type" end
    return pick(ODD_NUMBERS), "value"
  end,
}
ROLES.bool = {
  good = function() return pick { false, true } end,
  bad = function() return wrong_type("boolean"), "type" end,
}
ROLES.listopts = {
  good = function() return pick { { n = 2 }, { after = "b" }, { n = 1, after = "a" } } end,
  bad = function()
    if rnd(4) == 1 then return wrong_type("table"), "type" end
    return hostile_table { "n", "after", "last" }
  end,
}
ROLES.replaceopts = {
  good = function() return pick { nil, { replace = true }, { replace = false } } end,
  -- Only tables that are surely bad: the calls taking them write.
  bad = function()
    local k = rnd(3)
    if k == 1 then return wrong_type("table"), "type" end
    if k == 2 then return { replace = pick { "no", 0, 1, {} } }, "type" end
    return setmetatable({}, { __index = function() collectgarbage() error(MARK .. " __index", 0) end }), "meta"
  end,
}
ROLES.fn = {
  good = function()
    return pick { function() end, function() return "skip" end, function() return "stop" end }
  end,
  bad = function()
    local k = rnd(3)
    if k == 1 then return wrong_type("function"), "type" end
    if k == 2 then return function() error(MARK .. " callback", 0) end, "meta" end
    return function() return pick { {}, 12, "\0", 0 / 0 } end, "value"
  end,
}
ROLES.fsckopts = {
  good = function() return pick { { grace = 3600 }, { grace = 1e12 } } end,
  bad = function()
    if rnd(4) == 1 then return wrong_type("table"), "type" end
    return hostile_table { "grace", "repair" }
  end,
}
ROLES.count = {
  good = function() return pick { 1, 7, 65536, 2 ^ 40 } end,
  bad = function()
    if rnd(3) == 1 then return wrong_type("number"), "type" end
    return pick { 0, -1, 0.5, 0 / 0, -math.huge, math.huge, -2 ^ 63 }, "value"
  end,
}
ROLES.state = {
  good = function() return ctx.state end,
  bad = function()
    if rnd(3) == 1 then return wrong_type("string"), "type" end
    return pick { "", ("x"):rep(108), "sha\3" .. ("\255"):rep(104), random_bytes(rnd(0, 200)) }, "value"
  end,
}
ROLES.name = {
  good = function() return pick { ctx.repo_name, "missing/repo" } end,
  bad = function()
    if rnd(4) == 1 then return wrong_type("string"), "type" end
    return pick { "", "UPPER/case", "a//b", "../x", ("a"):rep(300), "a\0b", "a\xff", "-a", "a/", "/a" }, "value"
  end,
}
ROLES.digest = {
  good = function() return pick { ctx.digest, ctx.manifest, "sha256:" .. ("0"):rep(64) } end,
  bad = function()
    if rnd(4) == 1 then return wrong_type("string"), "type" end
    return pick { "", "sha256:xyz", "sha256:" .. ("a"):rep(63), "sha256:" .. ("g"):rep(64), "md5:abc",
      "sha256:" .. ("a"):rep(64) .. "\0", "../../../x", "sha256:../" .. ("a"):rep(61),
      "SHA256:" .. ("a"):rep(64), "sha256:" .. ("A"):rep(64) }, "value"
  end,
}
ROLES.tag = {
  good = function() return pick { "latest", "missing" } end,
  bad = function()
    if rnd(4) == 1 then return wrong_type("string"), "type" end
    return pick { "", ".bad", ("a"):rep(200), "a/b", "a\0", "\xff", "-x", "a b" }, "value"
  end,
}
ROLES.mtype = {
  good = function()
    return pick { "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json" }
  end,
  bad = function()
    if rnd(3) == 1 then return wrong_type("string"), "type" end
    return pick { "", "text/plain", "application/vnd.docker.distribution.manifest.v1+json", "\0" }, "value"
  end,
}
ROLES.content = {
  good = function() return pick { "{}", "not json", '{"schemaVersion":2}', random_bytes(50) } end,
  bad = function() return wrong_type("string"), "type" end,
}
ROLES.putopts = {
  good = function() return pick { nil, { tag = "t1" } } end,
  bad = function()
    if rnd(4) == 1 then return wrong_type("table"), "type" end
    return hostile_table { "tag", "digest" }
  end,
}
ROLES.regopts = {
  good = function() return pick { nil, {} } end,
  bad = function()
    if rnd(4) == 1 then return wrong_type("table"), "type" end
    return hostile_table { "root", "cache_size" }
  end,
}
ROLES.id = {
  good = function() return regstore.uuid() end,
  bad = function()
    if rnd(3) == 1 then return wrong_type("string"), "type" end
    return pick { "", "../x", "a\0b", ("f"):rep(500), "\xff" }, "value"
  end,
}

-- Draws the arguments for roles; forced: at least one bad argument.
local function draw(roles, forced)
  local args, why, nbad = {}, {}, 0
  local must = forced and rnd(#roles) or nil
  for i, r in ipairs(roles) do
    if i == must or rnd(3) == 1 then
      args[i], why[i] = ROLES[r].bad()
      nbad = nbad + 1
    else
      args[i] = ROLES[r].good()
    end
  end
  return args, why, nbad
end

local function describe_value(v)
  if type(v) == "string" then
    local s = #v > 40 and v:sub(1, 40) .. "...(" .. #v .. " bytes)" or v
    return string.format("%q", s)
  end
  return tostring(v)
end

-------------------------------------------------------------------------------
-- The calls: { label, roles, mutating, run(args) -> results }

local function handles_done(...)
  -- Readers, writers and hashers a call returned are used a little and closed.
  local h = ...
  if type(h) == "userdata" then
    local mt = getmetatable(h)
    local name = mt and mt.__name
    if name == "regstore.reader" then
      for _ = 1, 2 do
        local a, why = draw({ "count" }, false)
        local ok = pcall(h.read, h, a[1])
        if not ok and not why[1] then error("read with a good count raised") end
      end
      h:close()
    elseif name == "regstore.writer" then
      h:cancel()
      h:close()
    end
  end
end

local DRIVER_CALLS = {
  { "put_content", { "path", "data", "replaceopts" }, true, function(a)
    return ctx.drv:put_content(a[1], a[2], a[3])
  end },
  { "get_content", { "path" }, false, function(a) return ctx.drv:get_content(a[1]) end },
  { "stat", { "path" }, false, function(a) return ctx.drv:stat(a[1]) end },
  { "list", { "path", "listopts" }, false, function(a) return ctx.drv:list(a[1], a[2]) end },
  { "reader", { "path", "offset" }, false, function(a) return ctx.drv:reader(a[1], a[2]) end },
  { "writer", { "path", "bool" }, true, function(a) return ctx.drv:writer(a[1], a[2]) end },
  { "move", { "path", "path", "replaceopts" }, true, function(a) return ctx.drv:move(a[1], a[2], a[3]) end },
  { "delete", { "path" }, true, function(a) return ctx.drv:delete(a[1]) end },
  { "walk", { "path", "fn" }, false, function(a) return ctx.drv:walk(a[1], a[2]) end },
  { "fsck", { "fsckopts" }, false, function(a) return ctx.drv:fsck(a[1]) end },
  { "sha256", { "state", "data" }, false, function(a)
    local h = regstore.sha256(a[1])
    h:update(a[2])
    return h:hexdigest()
  end },
  { "reader:read", { "count" }, false, function(a)
    local r = assert(ctx.drv:reader(ctx.files[1]))
    local ok, x, y, z = pcall(r.read, r, a[1])
    r:close()
    if not ok then error(x, 0) end
    return x, y, z
  end },
  { "writer:write", { "data" }, true, function(a)
    local w = assert(ctx.drv:writer(ctx.files[1], true))
    local ok, x, y, z = pcall(w.write, w, a[1])
    w:cancel()
    w:close()
    if not ok then error(x, 0) end
    return x, y, z
  end },
}

local REGISTRY_CALLS = {
  { "registry.new", { "regopts" }, false, function(a) return registry.new(ctx.drv, a[1]) end },
  { "repositories", { "listopts" }, false, function(a) return ctx.reg:repositories(a[1]) end },
  { "repository", { "name" }, false, function(a) return ctx.reg:repository(a[1]) end },
  { "reg.blobs:stat", { "digest" }, false, function(a) return ctx.reg.blobs:stat(a[1]) end },
  { "reg.blobs:reader", { "digest", "offset" }, false, function(a) return ctx.reg.blobs:reader(a[1], a[2]) end },
  { "blobs:stat", { "digest" }, false, function(a) return ctx.repo.blobs:stat(a[1]) end },
  { "blobs:get", { "digest" }, false, function(a) return ctx.repo.blobs:get(a[1]) end },
  { "blobs:reader", { "digest", "offset" }, false, function(a) return ctx.repo.blobs:reader(a[1], a[2]) end },
  { "blobs:put", { "data", "digest" }, true, function(a) return ctx.repo.blobs:put(a[1], a[2]) end },
  { "blobs:mount", { "name", "digest" }, true, function(a) return ctx.repo.blobs:mount(a[1], a[2]) end },
  { "blobs:delete", { "digest" }, true, function(a) return ctx.repo.blobs:delete(a[1]) end },
  { "blobs:resume", { "id" }, false, function(a) return ctx.repo.blobs:resume(a[1]) end },
  { "manifests:put", { "content", "mtype", "putopts" }, true, function(a)
    return ctx.repo.manifests:put(a[1], a[2], a[3])
  end },
  { "manifests:get", { "digest" }, false, function(a) return ctx.repo.manifests:get(a[1]) end },
  { "manifests:exists", { "digest" }, false, function(a) return ctx.repo.manifests:exists(a[1]) end },
  { "manifests:delete", { "digest" }, true, function(a) return ctx.repo.manifests:delete(a[1]) end },
  { "manifests:referrers", { "digest", "mtype" }, false, function(a)
    return ctx.repo.manifests:referrers(a[1], a[2])
  end },
  { "tags:get", { "tag" }, false, function(a) return ctx.repo.tags:get(a[1]) end },
  { "tags:tag", { "tag", "digest" }, true, function(a) return ctx.repo.tags:tag(a[1], a[2]) end },
  { "tags:untag", { "tag" }, true, function(a) return ctx.repo.tags:untag(a[1]) end },
  { "tags:list", { "listopts" }, false, function(a) return ctx.repo.tags:list(a[1]) end },
  { "tags:lookup", { "digest" }, false, function(a) return ctx.repo.tags:lookup(a[1]) end },
}

-- Every path under / with its content ("<dir>" for directories).
local function snapshot(drv)
  local t = {}
  assert(drv:walk("/", function(info)
    if info.is_dir then
      t[info.path] = "<dir>"
    else
      t[info.path] = assert(drv:get_content(info.path))
    end
  end))
  return t
end

-- One call: returns nil, or a problem.
local function judge(call, args, why, nbad, codes, prefix)
  local label, roles, mutating, run = call[1], call[2], call[3], call[4]
  local typed = false
  for i = 1, #roles do if why[i] == "type" then typed = true end end
  local res = { pcall(run, args) }
  local function show()
    local t = {}
    for i = 1, #roles do
      t[i] = roles[i] .. "=" .. describe_value(args[i]) .. (why[i] and "(" .. why[i] .. ")" or "")
    end
    return label .. "(" .. table.concat(t, ", ") .. ")"
  end
  if not res[1] then
    local e = res[2]
    if type(e) ~= "string" then return show() .. " raised a " .. type(e) .. ", not a message" end
    if e:find("attempt to ", 1, true) and not e:find(MARK, 1, true) then
      return show() .. " raised a Lua runtime error from inside: " .. e
    end
    if e == "" then return show() .. " raised an empty message" end
    return nil, "raised"
  end
  local v, msg, code = res[2], res[3], res[4]
  if typed then return show() .. " did not raise for a wrong type; returned " .. tostring(v) .. ", "
    .. tostring(msg) .. ", " .. tostring(code) end
  if v == nil and msg ~= nil then
    if type(msg) ~= "string" or type(code) ~= "string" or not codes[code] then
      return show() .. " returned nil, " .. tostring(msg) .. ", " .. tostring(code) .. " (not a known code)"
    end
    if prefix and msg:sub(1, #prefix) ~= prefix then return show() .. " message without " .. prefix .. ": " .. msg end
    return nil, "failed"
  end
  if mutating and nbad > 0 then
    pcall(handles_done, v)
    return show() .. " accepted bad input: returned " .. tostring(v)
  end
  local ok, err = pcall(handles_done, v)
  if not ok then return show() .. ": using what it returned failed: " .. tostring(err) end
  return nil, "succeeded"
end

describe("bad input through the Lua API #cluster", function()

  local counts = { raised = 0, failed = 0, succeeded = 0 }

  setup(function()
    ctx = {}
    ctx.drv = helper.connect { chunk_size = 4096, timeout = 10 }
    ctx.reg = registry.new(ctx.drv)
    ctx.repo_name = "library/alpine"
    ctx.repo = assert(ctx.reg:repository(ctx.repo_name))
    local desc = assert(ctx.repo.blobs:put("layer bytes"))
    ctx.digest = desc.digest
    local config = assert(ctx.repo.blobs:put('{"architecture":"amd64","os":"linux"}'))
    local manifest = string.format([[{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",]]
      .. [["config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},]]
      .. [["layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}]],
      config.digest, config.size, desc.digest, desc.size)
    ctx.manifest = assert(ctx.repo.manifests:put(manifest, "application/vnd.oci.image.manifest.v1+json",
      { tag = "latest" }))
    for _, p in ipairs { "/data/a", "/data/b", "/data/sub/c", "/top" } do
      assert(ctx.drv:put_content(p, helper.bytes(5000, #p)))
    end
    ctx.files = { "/data/a", "/data/b", "/data/sub/c", "/top" }
    ctx.dirs = { "/data", "/data/sub", "/docker" }
    ctx.state = regstore.sha256():update("abc"):state()
  end)
  teardown(function()
    if ctx and ctx.drv then
      helper.clear(ctx.drv)
      ctx.drv:close()
    end
  end)

  it("every call answers bad input with a clear error and stored data stays as it was", function()
    print(string.format("\n# bad input: seed %d (REGSTORE_SEED=%d replays it), %d calls", SEED, SEED, CALLS))
    math.randomseed(SEED)
    rnd = math.random
    local before = snapshot(ctx.drv)
    local problems = {}
    local all = {}
    for _, c in ipairs(DRIVER_CALLS) do all[#all + 1] = { c, DRIVER_CODES, "regstore: " } end
    for _, c in ipairs(REGISTRY_CALLS) do all[#all + 1] = { c, REGISTRY_CODES, nil } end
    local connects = 0
    for i = 1, CALLS do
      local entry = pick(all)
      local call = entry[1]
      local args, why, nbad = draw(call[2], call[3])
      -- A mutating call whose bad argument happens to be good is skipped.
      local skip = false
      if call[3] then
        skip = true
        for k = 1, #call[2] do if why[k] then skip = false end end
        for k = 1, #call[2] do
          if call[2][k] == "path" and not why[k] and valid_path(args[k]) and nbad == 0 then skip = true end
        end
      end
      if not skip then
        local problem, how = judge(call, args, why, nbad, entry[2], entry[3])
        if problem then
          if #problems < 40 then problems[#problems + 1] = string.format("call %d: %s", i, problem) end
        else
          counts[how] = counts[how] + 1
        end
      end
      -- Now and then a connect with a hostile option table.
      if i % 100 == 0 and connects < 30 then
        connects = connects + 1
        local opts, kind = hostile_table { "pool", "conf", "id", "keyring", "namespace", "chunk_size",
          "timeout", "window" }
        local ok, d = pcall(regstore.connect, opts)
        if ok and d then d:close() end
        if not ok and type(d) == "string" and d:find("attempt to ", 1, true) and not d:find(MARK, 1, true) then
          problems[#problems + 1] = "connect(" .. kind .. " table) raised from inside: " .. d
        end
        counts[ok and "succeeded" or "raised"] = counts[ok and "succeeded" or "raised"] + 1
      end
    end
    collectgarbage()
    local after = snapshot(ctx.drv)
    print(string.format("# bad input: %d raised, %d failed with a code, %d succeeded (read-only or good), "
      .. "%d problems; %d stored paths compared", counts.raised, counts.failed, counts.succeeded, #problems,
      #helper.keys(before)))
    assert.are.same({}, problems, "seed " .. SEED)
    assert.are.same(before, after, "stored data changed (seed " .. SEED .. ")")
  end)
end)
