--- Settings of this nginx instance, from the environment `serve` passes on
-- (nginx's `env` directives): thread pool sizes and stream piece sizes.

local function num(name, default)
  local v = tonumber(os.getenv(name) or "")
  if v and v > 0 then return math.floor(v) end
  return default
end

return {
  bulk_threads = num("REGSTORE_SERVE_BULK_THREADS", 4),
  meta_threads = num("REGSTORE_SERVE_META_THREADS", 2),
  -- request bodies are read and written in pieces of this many bytes
  upload_piece = num("REGSTORE_SERVE_UPLOAD_PIECE", 4194304),
  -- blob GETs read this many bytes per job
  read_piece = num("REGSTORE_SERVE_READ_PIECE", 2097152),
  max_manifest = 4194304,
  realm = os.getenv "REGSTORE_SERVE_REALM" or "regstore",
}
