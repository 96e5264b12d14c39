-- quire.template: placeholder until the Mustache engine lands.
local M = {}
function M.new(site) return {} end
return M
