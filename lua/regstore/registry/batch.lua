--- Many small reads, stats or writes at once: the driver's batch calls
-- (drv:get_many, drv:stat_many, drv:put_many: a window of single calls in
-- flight, per-item results) when the store has them, else one single call
-- per path (a directory store, any table with the driver's methods).
-- Results are per item, as the batch calls give them: res[i] (the content,
-- the stat table or true) or false, with msgs[i], codes[i] for a failed
-- item; item i is `res[i] or nil, msgs[i], codes[i]`. Long lists go in
-- chunks of batch.CHUNK paths: each chunk is one call, with one deadline.

local batch = {}

batch.CHUNK = 256

local function run(drv, many, single, paths, extra, opts)
  local res, msgs, codes = {}, {}, {}
  if #paths == 0 then return res, msgs, codes end
  if many and drv[many] then
    for first = 1, #paths, batch.CHUNK do
      local last = math.min(first + batch.CHUNK - 1, #paths)
      local p, x = {}, extra and {} or nil
      for i = first, last do
        p[#p + 1] = paths[i]
        if x then x[#x + 1] = extra[i] end
      end
      local r, m, c
      local o = opts
      if opts and opts.missing and (first > 1 or last < #paths) then
        -- per-item hints, cut to the chunk's items
        o = { missing = {} }
        for k, v in pairs(opts) do if k ~= "missing" then o[k] = v end end
        for i = first, last do o.missing[i - first + 1] = opts.missing[i] end
      end
      if x then r, m, c = drv[many](drv, p, x, o) else r, m, c = drv[many](drv, p, o) end
      for k = 1, #p do
        res[first + k - 1] = r[k]
        if not r[k] then msgs[first + k - 1], codes[first + k - 1] = m[k], c[k] end
      end
    end
    return res, msgs, codes
  end
  for i, path in ipairs(paths) do
    local r, m, c
    if extra then r, m, c = drv[single](drv, path, extra[i], opts) else r, m, c = drv[single](drv, path) end
    res[i] = r or false
    if not r then msgs[i], codes[i] = m, c end
  end
  return res, msgs, codes
end

--- The contents of paths; opts as get_many's ({ shallow = true }).
function batch.get(drv, paths, opts)
  return run(drv, "get_many", "get_content", paths, nil, opts)
end

--- One file's content, shallow (a missing directory on its path is an
-- absence at once, whatever the levels above it hold): the content, or
-- nil, message, code.
function batch.get_shallow(drv, path)
  local res, msgs, codes = batch.mixed(drv, { { "get", path } }, { shallow = true })
  return res[1] or nil, msgs[1], codes[1]
end

--- The stats of paths; opts as stat_many's.
function batch.stat(drv, paths, opts)
  return run(drv, "stat_many", "stat", paths, nil, opts)
end

--- Puts contents[i] at paths[i]; opts as put_content's ({ replace = false }),
-- and put_many's missing = { n... } (what the caller knows to be missing
-- of each path's directories: a hint that saves lookups, put_many only).
function batch.put(drv, paths, contents, opts)
  return run(drv, "put_many", "put_content", paths, contents, opts)
end

--- put_content(path, data, opts) with put_many's missing hint: missing
-- (n > 0) directory levels above path known to be missing, so that the
-- put skips its lookups (a wrong hint costs a round trip, never another
-- result); nil: a plain put_content. true, or nil, message, code.
function batch.put_one(drv, path, data, missing, opts)
  if not missing then return drv:put_content(path, data, opts) end
  local o = { missing = { missing } }
  for k, v in pairs(opts or {}) do o[k] = v end
  local res, msgs, codes = run(drv, "put_many", "put_content", { path }, { data }, o)
  if res[1] then return true end
  return nil, msgs[1], codes[1]
end

--- Two new files put together, each into a directory most likely missing
-- (hints of 1): sealed and made at once, the first one's directory linked
-- before the second's (put_many's in_order), so the second is never read
-- before the first. A name already there counts as put (replace = false:
-- both hold content fixed by their names). ok1, ok2, then for each that
-- failed its message and code: nil, msg1, code1, msg2, code2 when the
-- driver has no put_many (the caller puts them one after the other).
function batch.put_two_new(drv, paths, contents)
  if not drv.put_many then return nil end
  local res, msgs, codes = drv:put_many(paths, contents, { missing = { 1, 1 }, replace = false, in_order = true })
  local ok1 = res[1] or codes[1] == "exists"
  local ok2 = res[2] or codes[2] == "exists"
  return ok1, ok2, msgs[1], codes[1], msgs[2], codes[2], res[2] == true
end

-- exists as drv:batch answers it, from a stat (a driver without batch)
local function exists(drv, path)
  local info, m, c = drv:stat(path)
  if info and info.is_dir then return nil, "regstore: is a directory: " .. path, "is_dir" end
  if not info and c == "not_dir" then c = "not_found" end
  return info and true, m, c
end

--- A batch of different calls: ops[i] = { "get", path }, { "stat", path },
-- { "exists", path } or { "put", path, content } (the driver's drv:batch,
-- else single calls). opts: drv:batch's (replace, shallow).
function batch.mixed(drv, ops, opts)
  local res, msgs, codes = {}, {}, {}
  if #ops == 0 then return res, msgs, codes end
  if drv.batch and #ops <= batch.CHUNK then return drv:batch(ops, opts) end
  for i, op in ipairs(ops) do
    local r, m, c
    if op[1] == "get" then r, m, c = drv:get_content(op[2])
    elseif op[1] == "stat" then r, m, c = drv:stat(op[2])
    elseif op[1] == "exists" then r, m, c = exists(drv, op[2])
    else r, m, c = drv:put_content(op[2], op[3], opts) end
    res[i] = r or false
    if not r then msgs[i], codes[i] = m, c end
  end
  return res, msgs, codes
end

--- The listings of dirs (each as drv:list answers it), many at once
-- (list ops of the driver's drv:batch, else one drv:list each).
function batch.list(drv, dirs)
  if drv.batch then
    local ops = {}
    for i, d in ipairs(dirs) do ops[i] = { "list", d } end
    local res, msgs, codes = {}, {}, {}
    for first = 1, #ops, batch.CHUNK do
      local last = math.min(first + batch.CHUNK - 1, #ops)
      local chunk = {}
      for i = first, last do chunk[#chunk + 1] = ops[i] end
      local r, m, c = drv:batch(chunk)
      for k = 1, #chunk do
        res[first + k - 1] = r[k]
        if not r[k] then msgs[first + k - 1], codes[first + k - 1] = m[k], c[k] end
      end
    end
    return res, msgs, codes
  end
  return run(drv, nil, "list", dirs)
end

return batch
