--- A bounded least-recently-used map, in process (distribution's blob
-- descriptor cache, "inmemory" provider, but bounded).
--
-- The registry keeps one per connection: digest -> { size, media_type } for
-- blobs, and parsed manifest summaries. Content is addressed by digest, so an
-- entry never goes stale while the blob exists; deletes forget the digest.
-- capacity 0 disables caching (every get misses).

local cache = {}

local LRU = {}
LRU.__index = LRU

cache.DEFAULT_CAPACITY = 4096

--- A new cache holding at most `capacity` entries (default 4096).
function cache.new(capacity)
  if capacity == nil then capacity = cache.DEFAULT_CAPACITY end
  if type(capacity) ~= "number" or capacity < 0 or capacity ~= math.floor(capacity) then
    error("cache: capacity must be a non-negative integer", 2)
  end
  -- head.next is the most recent entry, head.prev the least recent one
  local head = {}
  head.next, head.prev = head, head
  return setmetatable({ capacity = capacity, count = 0, map = {}, head = head }, LRU)
end

local function unlink(node)
  node.prev.next = node.next
  node.next.prev = node.prev
end

local function push_front(head, node)
  node.next = head.next
  node.prev = head
  head.next.prev = node
  head.next = node
end

--- The value for key (and marks it recently used), or nil.
function LRU:get(key)
  local node = self.map[key]
  if not node then return nil end
  unlink(node)
  push_front(self.head, node)
  return node.value
end

--- Stores value under key, evicting the least recently used entry if full.
function LRU:set(key, value)
  if self.capacity == 0 then return end
  if value == nil then return self:delete(key) end
  local node = self.map[key]
  if node then
    node.value = value
    unlink(node)
    push_front(self.head, node)
    return
  end
  if self.count >= self.capacity then
    local last = self.head.prev
    unlink(last)
    self.map[last.key] = nil
    self.count = self.count - 1
  end
  node = { key = key, value = value }
  push_front(self.head, node)
  self.map[key] = node
  self.count = self.count + 1
end

--- Forgets key.
function LRU:delete(key)
  local node = self.map[key]
  if not node then return end
  unlink(node)
  self.map[key] = nil
  self.count = self.count - 1
end

--- Forgets everything.
function LRU:clear()
  self.map = {}
  self.count = 0
  self.head.next, self.head.prev = self.head, self.head
end

--- Keys from most to least recently used (for specs).
function LRU:keys()
  local out, node = {}, self.head.next
  while node ~= self.head do
    out[#out + 1] = node.key
    node = node.next
  end
  return out
end

return cache
