-- check_docs.lua - every relative link, every anchor and every cited
-- repository path in the project's markdown exists.  Run from the
-- repository's root by scripts/check_docs.sh (and so by scripts/test.sh).
--
-- Pages: README.md, NEWS.md, docs/*.md, bench/README.md,
-- examples/**/README.md.  For each page, outside fenced code blocks:
--   - a link [text](target) that is not a URL must name a file or directory
--     relative to the page; its #anchor must be a heading of the target page
--     (of the page itself for a bare #anchor), slugged as GitHub does;
--   - an inline code span that looks like a repository file (a path with a
--     "/", no space or wildcard, ending in a known extension, e.g.
--     `spec/x_spec.lua`, `lua/regstore/cli.lua`, `scripts/test.sh`) must
--     exist relative to the repository's root or to the page.
-- Prints each problem as "page:line: what" and a summary; exits 1 on any.

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function is_dir(path)
  local ok = os.execute('test -d "' .. path:gsub('"', '\\"') .. '"')
  return ok == true or ok == 0
end

local function lines_of(path)
  local t = {}
  for l in io.lines(path) do t[#t + 1] = l end
  return t
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- a/b/../c -> a/c; ./x -> x
local function normalize(path)
  local out = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      if #out > 0 and out[#out] ~= ".." then out[#out] = nil else out[#out + 1] = ".." end
    elseif part ~= "." then
      out[#out + 1] = part
    end
  end
  return table.concat(out, "/")
end

local function join(dir, rel)
  if dir == "." then return normalize(rel) end
  return normalize(dir .. "/" .. rel)
end

-- GitHub's heading slug: the rendered text, lowercased; characters other
-- than letters, digits, "_", "-" and spaces dropped; spaces become "-".
-- Duplicates get "-1", "-2", ...
local function keep_codepoint(cp)
  return (cp >= 0xC0 and cp <= 0x24F and cp ~= 0xD7 and cp ~= 0xF7) -- Latin letters
    or (cp >= 0x370 and cp <= 0x3FF) or (cp >= 0x400 and cp <= 0x4FF) -- Greek, Cyrillic
end

local function slug(text)
  text = text:gsub("!?%[([^%]]*)%]%([^)]*%)", "%1") -- links and images: their text
  text = text:gsub("<[^>]*>", "")                    -- inline HTML
  text = text:gsub("[`*]", "")                        -- code and emphasis marks
  text = text:lower()
  local out = {}
  for _, cp in utf8.codes(text) do
    local c = cp < 128 and string.char(cp) or nil
    if c then
      if c:match("[%w_%-]") then out[#out + 1] = c
      elseif c == " " then out[#out + 1] = "-" end
    elseif keep_codepoint(cp) then
      out[#out + 1] = utf8.char(cp)
    end
  end
  return table.concat(out)
end

local anchor_cache = {}
local function anchors(page)
  if anchor_cache[page] then return anchor_cache[page] end
  local set, seen, fence = {}, {}, nil
  for _, l in ipairs(lines_of(page)) do
    local f = l:match("^%s*(```+)") or l:match("^%s*(~~~+)")
    if f then
      if not fence then fence = f elseif l:match("^%s*" .. fence) then fence = nil end
    elseif not fence then
      local h = l:match("^#+%s+(.-)%s*#*%s*$")
      if h then
        local s = slug(h)
        local n = seen[s]
        seen[s] = (n or -1) + 1
        set[n and (s .. "-" .. (n + 1)) or s] = true
      end
    end
  end
  anchor_cache[page] = set
  return set
end

local FILE_EXT = { lua = true, sh = true, c = true, h = true, md = true, txt = true, rockspec = true,
  ["in"] = true, supp = true, json = true, py = true, dict = true, conf = true }

local function looks_like_file(s)
  if not s:find("/", 1, true) or s:find("[%s%*%?<>{}%$|%[%]\"'=(),;:]") then return false end
  if s:sub(1, 1) == "/" or s:sub(1, 1) == "-" or s:find("://", 1, true) then return false end
  local ext = s:match("%.([%w]+)$")
  return ext ~= nil and FILE_EXT[ext] == true
end

local pages = { "README.md", "NEWS.md", "bench/README.md" }
local function add_found(cmd)
  local p = io.popen(cmd)
  for l in p:lines() do pages[#pages + 1] = (l:gsub("^%./", "")) end
  p:close()
end
add_found("find docs -maxdepth 1 -name '*.md' 2>/dev/null | sort")
add_found("find examples -name README.md 2>/dev/null | sort")

local problems, links, paths, checked = 0, 0, 0, 0
local function problem(page, n, msg)
  problems = problems + 1
  io.stdout:write(string.format("%s:%d: %s\n", page, n, msg))
end

for _, page in ipairs(pages) do
  if not exists(page) then
    problem(page, 0, "page missing")
  else
    checked = checked + 1
    local dir, fence = dirname(page), nil
    for n, l in ipairs(lines_of(page)) do
      local f = l:match("^%s*(```+)") or l:match("^%s*(~~~+)")
      if f then
        if not fence then fence = f elseif l:match("^%s*" .. fence) then fence = nil end
      elseif not fence then
        -- inline code spans first (a link inside one is no link), then links
        local rest = l:gsub("``(.-)``", function(code) return "\0" .. code:gsub("[%[%]]", "") .. "\0" end)
        rest = rest:gsub("`([^`]+)`", function(code)
          if looks_like_file(code) then
            paths = paths + 1
            local target = code:gsub("/$", "")
            if not (exists(normalize(target)) or exists(join(dir, target))) then
              problem(page, n, "cited path does not exist: " .. code)
            end
          end
          return "\0"
        end)
        for target in rest:gmatch("%]%(([^)%s]+)[^)]*%)") do
          if not target:match("^%a[%w+.-]*:") then -- not a URL or mailto:
            links = links + 1
            local file, anchor = target:match("^([^#]*)#?(.*)$")
            local dest = file == "" and page or join(dir, file)
            if file ~= "" and not exists(dest) and not is_dir(dest) then
              problem(page, n, "link target does not exist: " .. target)
            elseif anchor ~= "" then
              if not dest:match("%.md$") or is_dir(dest) then
                problem(page, n, "anchor on a page that is not markdown: " .. target)
              elseif not anchors(dest)[anchor] then
                problem(page, n, "no heading for anchor #" .. anchor .. " in " .. dest)
              end
            end
          end
        end
      end
    end
  end
end

io.stdout:write(string.format("docs: %d pages, %d links, %d cited paths, %d problems\n",
  checked, links, paths, problems))
os.exit(problems == 0 and 0 or 1)
