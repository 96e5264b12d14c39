-- Loads bench/export's corpus (JSONL) into a quire site: articles by one author, in batches of
-- 500 per transaction.  usage: quire run --site DIR import.lua CORPUS.jsonl
local cjson = require "cjson"
local path = assert(arg and arg[1] or ..., "give the corpus file")
local batch, n = {}, 0
local function flush()
  quire.store.transaction(function()
    for _, p in ipairs(batch) do
      quire.content.create { type = "article", title = p.title, slug = p.slug, section = p.section, tags = p.tags,
        status = "published", published_at = p.published_at, body = p.body, author = "ash" }
    end
  end)
  n = n + #batch
  batch = {}
end
for line in io.lines(path) do
  batch[#batch + 1] = cjson.decode(line)
  if #batch == 500 then flush() end
end
flush()
print(("imported %d posts"):format(n))
