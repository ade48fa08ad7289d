-- cnndsl in Neovim: the `cnn` filetype and the cnndsl language server.
--
-- Install: copy this file to ~/.config/nvim/lua/cnndsl.lua and add
--   require("cnndsl")
-- to init.lua. Needs `cnndsl` on the PATH, or, before the require, for a checkout:
--   vim.g.cnndsl_lsp_cmd = { "/path/to/cnndsl/.venv/bin/cnndsl", "lsp" }
-- Neovim 0.11+ uses vim.lsp.config; older versions use nvim-lspconfig.

local CNNDSL_LSP_CMD = vim.g.cnndsl_lsp_cmd or { "cnndsl", "lsp" }

vim.filetype.add({ extension = { cnn = "cnn" } })

vim.api.nvim_create_autocmd("FileType", {
  pattern = "cnn",
  callback = function()
    vim.bo.commentstring = "# %s"
    vim.bo.shiftwidth = 4
    vim.bo.expandtab = true
  end,
})

if vim.lsp.config then
  -- Neovim 0.11 and later
  vim.lsp.config("cnndsl", {
    cmd = CNNDSL_LSP_CMD,
    filetypes = { "cnn" },
    root_markers = { ".git", "pyproject.toml" },
  })
  vim.lsp.enable("cnndsl")
else
  -- Neovim 0.8-0.10 with nvim-lspconfig
  local configs = require("lspconfig.configs")
  if not configs.cnndsl then
    configs.cnndsl = {
      default_config = {
        cmd = CNNDSL_LSP_CMD,
        filetypes = { "cnn" },
        root_dir = require("lspconfig.util").root_pattern(".git", "pyproject.toml"),
        single_file_support = true,
      },
    }
  end
  require("lspconfig").cnndsl.setup({})
end

-- Format on save with the server (the same layout as `cnndsl fmt`):
vim.api.nvim_create_autocmd("BufWritePre", {
  pattern = "*.cnn",
  callback = function() vim.lsp.buf.format({ name = "cnndsl", timeout_ms = 2000 }) end,
})
