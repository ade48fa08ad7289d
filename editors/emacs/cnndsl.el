;;; cnndsl.el --- cnndsl specs (.cnn) with eglot  -*- lexical-binding: t; -*-

;; Install: put this file on the load-path and add (require 'cnndsl) to your
;; init file.  Needs `cnndsl' on the exec-path (or set `cnndsl-lsp-command',
;; for a checkout '("/path/to/cnndsl/.venv/bin/cnndsl" "lsp")).  Emacs 29+
;; ships eglot (Emacs 28: the eglot package).  Highlighting comes from the
;; keywords below; `editors/emacs/test.el' checks this file in batch mode.

(require 'eglot)

(defvar cnndsl-lsp-command '("cnndsl" "lsp")
  "The command that starts the cnndsl language server.")

(defconst cnndsl--keywords
  '("network" "input" "block" "stage" "repeat" "for" "in" "path" "if" "else"
    "as" "from" "output" "and" "or" "not"))

(define-derived-mode cnn-mode prog-mode "cnn"
  "Major mode for cnndsl specs."
  (setq-local comment-start "# ")
  (setq-local indent-tabs-mode nil)
  (setq-local tab-width 4)
  (modify-syntax-entry ?# "<" cnn-mode-syntax-table)
  (modify-syntax-entry ?\n ">" cnn-mode-syntax-table)
  (modify-syntax-entry ?_ "_" cnn-mode-syntax-table)
  (setq-local font-lock-defaults
              `(((,(regexp-opt cnndsl--keywords 'symbols) . font-lock-keyword-face)
                 (,(regexp-opt '("true" "false") 'symbols) . font-lock-constant-face)
                 ("\\_<block\\s-+\\([A-Za-z_][A-Za-z0-9_]*\\)" 1 font-lock-type-face)
                 ("\\_<\\([A-Za-z_][A-Za-z0-9_]*\\)\\s-*(" 1 font-lock-function-name-face)))))

(add-to-list 'auto-mode-alist '("\\.cnn\\'" . cnn-mode))
(add-to-list 'eglot-server-programs `(cnn-mode . ,(lambda (&rest _) cnndsl-lsp-command)))
(add-hook 'cnn-mode-hook #'eglot-ensure)

(provide 'cnndsl)
;;; cnndsl.el ends here
