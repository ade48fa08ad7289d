-- A headless check of cnndsl.lua in a real Neovim (0.11+), from the repository root:
--   nvim --headless -u NONE -l editors/neovim/test.lua
-- Opens specs/googlenet.cnn (a copy), waits for the server, drops one `p=1` from an
-- Inception path and expects E0301 there, then hovers the first conv.
-- Exit status 0 when all of it holds.
local root = vim.fn.getcwd()
package.path = root .. "/editors/neovim/?.lua;" .. package.path
vim.g.cnndsl_lsp_cmd = { root .. "/.venv/bin/cnndsl", "lsp" }
vim.cmd("filetype on")
require("cnndsl")

local copy = vim.fn.tempname() .. ".cnn"
vim.fn.writefile(vim.fn.readfile(root .. "/specs/googlenet.cnn"), copy)
vim.cmd("edit " .. copy)
local function check(ok, what)
  io.stdout:write((ok and "ok   " or "FAIL ") .. what .. "\n")
  if not ok then os.exit(1) end
end
check(vim.bo.filetype == "cnn", "filetype cnn")
check(vim.wait(30000, function() return #vim.lsp.get_clients({ bufnr = 0 }) > 0 end, 50),
  "the server attached")

local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
local broken
for i, l in ipairs(lines) do
  if l:find("conv%(c2%[1%], k=3, p=1%)") then
    broken = i
    vim.api.nvim_buf_set_lines(0, i - 1, i, false, { (l:gsub(", p=1%)", ")", 1)) })
    break
  end
end
check(vim.wait(30000, function() return #vim.diagnostic.get(0) > 0 end, 50), "a diagnostic")
local d = vim.diagnostic.get(0)[1]
check(d.code == "E0301" and d.lnum + 1 == broken, "E0301 on the edited path's line")

local row = 0
for i, l in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
  if l:find("^stage b1") then row = i - 1 end
end
local client = vim.lsp.get_clients({ bufnr = 0 })[1]
local res = client:request_sync("textDocument/hover", {
  textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = row, character = 12 },
}, 10000, 0)
local value = res and res.result and res.result.contents.value or ""
check(value:find("64x112x112", 1, true) ~= nil, "hover on the first conv shows 64x112x112")
os.exit(0)
