-- The engine's streaming SHA-256 (OpenSSL) and its saved state, which must
-- be byte for byte what Go's crypto/sha256 MarshalBinary writes, as
-- distribution keeps it in an upload's hashstates.
local regstore = require "regstore"

local function be32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end

local H0 = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }

describe("sha256 #unit", function()
  it("hashes the standard vectors", function()
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      regstore.sha256():hexdigest())
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      regstore.sha256():update("abc"):hexdigest())
    assert.are.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      regstore.sha256():update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"):hexdigest())
  end)

  it("gives the digest so far and goes on hashing", function()
    local h = regstore.sha256():update("ab")
    h:hexdigest()
    h:update("c")
    assert.are.equal(regstore.sha256():update("abc"):hexdigest(), h:hexdigest())
    assert.are.equal(3, h:size())
  end)

  it("saves its state in Go's MarshalBinary layout", function()
    local state = regstore.sha256():update("abc"):state()
    local want = { "sha\3" }
    for i = 1, 8 do want[#want + 1] = be32(H0[i]) end
    want[#want + 1] = "abc" .. string.rep("\0", 61)
    want[#want + 1] = be32(0) .. be32(3)
    assert.are.equal(108, #state)
    assert.are.equal(table.concat(want), state)
  end)

  it("restores a saved state at any offset and ends with the same digest", function()
    local data = string.rep("0123456789", 1000) .. "tail"
    for _, cut in ipairs({ 0, 1, 63, 64, 65, 128, 5000, #data }) do
      local h = regstore.sha256():update(data:sub(1, cut))
      local resumed = regstore.sha256(h:state())
      assert.are.equal(cut, resumed:size())
      resumed:update(data:sub(cut + 1))
      assert.are.equal(regstore.sha256():update(data):hexdigest(), resumed:hexdigest())
    end
  end)

  it("refuses a malformed state", function()
    assert.has_error(function() regstore.sha256("short") end)
    assert.has_error(function() regstore.sha256(string.rep("x", 108)) end)
    assert.has_error(function() regstore.sha256(42) end)
  end)
end)
