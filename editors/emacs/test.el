;;; test.el --- a batch check of cnndsl.el in a real Emacs with eglot  -*- lexical-binding: t; -*-

;; From the repository root:  emacs --batch -l editors/emacs/test.el
;; Opens a copy of specs/googlenet.cnn, connects to the server, drops one `p=1'
;; from an Inception path and expects E0301 on that line, then hovers the first
;; conv.  Exit status 0 when all of it holds.

(setq cnndsl-lsp-command (list (expand-file-name ".venv/bin/cnndsl") "lsp"))
(load-file (expand-file-name "editors/emacs/cnndsl.el"))
(defun cnndsl-test--check (ok what) (princ (format "%s %s\n" (if ok "ok  " "FAIL") what)) (unless ok (kill-emacs 1)))
(let* ((copy (make-temp-file "g" nil ".cnn")))
  (copy-file (expand-file-name "specs/googlenet.cnn") copy t)
  (find-file copy)
  (cnndsl-test--check (eq major-mode 'cnn-mode) "cnn-mode")
  (apply #'eglot (eglot--guess-contact))
  (let ((n 0)) (while (and (not (eglot-current-server)) (< n 200)) (accept-process-output nil 0.1) (setq n (1+ n))))
  (cnndsl-test--check (eglot-current-server) "the server connected")
  (goto-char (point-min))
  (search-forward "conv(c2[1], k=3, p=1)")
  (let ((line (line-number-at-pos)))
    (search-backward ", p=1") (delete-char 5)
    (eglot--signal-textDocument/didChange)
    (let ((n 0)) (while (and (null (flymake-diagnostics)) (< n 200)) (accept-process-output nil 0.1) (setq n (1+ n))))
    (let ((d (car (flymake-diagnostics))))
      (cnndsl-test--check d "a diagnostic")
      (cnndsl-test--check (and (string-match-p "E0301" (flymake-diagnostic-text d))
                  (= line (line-number-at-pos (flymake-diagnostic-beg d))))
             "E0301 on the edited path's line")))
  (goto-char (point-min)) (search-forward "stage b1 { co")
  (let ((hover (jsonrpc-request (eglot-current-server) :textDocument/hover
                                (eglot--TextDocumentPositionParams))))
    (cnndsl-test--check (string-match-p "64x112x112" (plist-get (plist-get hover :contents) :value))
           "hover on the first conv shows 64x112x112"))
  (kill-emacs 0))
;;; test.el ends here
