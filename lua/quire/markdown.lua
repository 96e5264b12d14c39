-- quire.markdown, quire.html, quire.url: placeholder until the renderer lands.
local M = {}
function M.new(site) return { markdown = {}, html = {}, url = {} } end
return M
