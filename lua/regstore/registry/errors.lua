--- Registry failures: `nil, message, code`, as in the driver contract.
--
-- The driver answers with its own codes (`not_found`, `io`, ...). Each store
-- translates them at its boundary: `not_found` becomes the domain code of
-- what was missing (`blob_unknown`, `manifest_unknown`, ...) with a message
-- that names the repository and the digest, tag or upload; every other
-- driver failure passes through untouched, so `io`, `timeout` and
-- `permission` reach the caller with the driver's message (naming the path).

local errors = {}

--- The contract's codes, for reference and for specs.
errors.CODES = {
  "name_invalid", "tag_invalid", "digest_invalid", "name_unknown", "blob_unknown",
  "blob_upload_unknown", "size_invalid", "manifest_invalid", "manifest_blob_unknown",
  "manifest_unknown", "tag_unknown", "unsupported",
  "denied", -- a quota refused the bytes (registry/quotas.lua)
}

--- nil, "regstore: " .. formatted message, code
function errors.new(code, fmt, ...)
  return nil, "regstore: " .. string.format(fmt, ...), code
end

--- Translates a driver failure: `not_found` becomes `code` with the message
-- made from fmt and the rest; anything else passes through.
function errors.translate(dmsg, dcode, code, fmt, ...)
  if dcode == "not_found" then
    return errors.new(code, fmt, ...)
  end
  return nil, dmsg, dcode
end

return errors
