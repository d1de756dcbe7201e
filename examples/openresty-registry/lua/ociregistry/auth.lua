--- Basic authentication's answer. nginx checks the credentials itself
-- (auth_basic with the htpasswd file given to `serve`: crypt(3), so bcrypt,
-- SHA-512/256 crypt, apr1 and {SHA} entries all work); its 401 is sent here,
-- as the specification's UNAUTHORIZED error with the challenge.

local errors = require "ociregistry.errors"
local settings = require "ociregistry.settings"

local auth = {}

function auth.challenge()
  return errors.oci(401, "UNAUTHORIZED", "authentication required",
    { ["WWW-Authenticate"] = string.format('Basic realm="%s"', settings.realm) })
end

return auth
