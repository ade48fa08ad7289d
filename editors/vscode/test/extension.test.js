// Loads extension.js as VS Code would (with a stand-in for the `vscode` module,
// which exists only inside the editor), checks the manifest against it, then
// starts the language server exactly as the extension's serverOptions say and
// talks LSP to it with vscode-jsonrpc, the client library's own transport.
// CNNDSL_SERVER (a JSON list) overrides the command; by default the checkout's .venv.
"use strict";

const assert = require("assert");
const fs = require("fs");
const path = require("path");
const cp = require("child_process");
const Module = require("module");

const ROOT = path.resolve(__dirname, "..", "..", "..");
const command = process.env.CNNDSL_SERVER
  ? JSON.parse(process.env.CNNDSL_SERVER)
  : [path.join(ROOT, ".venv", "bin", "cnndsl"), "lsp"];

const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === "vscode") {
    const workspace = {
      getConfiguration: (section) => ({
        get: (key, fallback) => (section === "cnndsl" && key === "server.command" ? command : fallback),
      }),
    };
    return new Proxy({ workspace }, { get: (t, k) => (k in t ? t[k] : function () {}) });
  }
  return load.apply(this, arguments);
};

const rpc = require("vscode-jsonrpc/node");
const manifest = require("../package.json");
const extension = require("../extension.js");

(async () => {
  // The manifest: the language, the grammar and the entry point the extension uses.
  const lang = manifest.contributes.languages[0];
  assert.deepStrictEqual([lang.id, lang.extensions], ["cnn", [".cnn"]]);
  assert.ok(manifest.activationEvents.includes("onLanguage:cnn"));
  for (const file of [manifest.main, lang.configuration, manifest.contributes.grammars[0].path]) {
    assert.ok(fs.existsSync(path.join(__dirname, "..", file)), file);
  }
  JSON.parse(fs.readFileSync(path.join(__dirname, "..", lang.configuration), "utf8"));
  assert.strictEqual(typeof extension.activate, "function");

  // The server the extension starts, over stdio.
  const options = extension.serverOptions();
  assert.deepStrictEqual([options.command, ...options.args], command);
  const server = cp.spawn(options.command, options.args, { stdio: ["pipe", "pipe", "inherit"] });
  const conn = rpc.createMessageConnection(new rpc.StreamMessageReader(server.stdout),
    new rpc.StreamMessageWriter(server.stdin));
  const diagnostics = new Promise((resolve) =>
    conn.onNotification("textDocument/publishDiagnostics", (p) => resolve(p)));
  conn.listen();
  const init = await conn.sendRequest("initialize", { processId: process.pid, rootUri: null, capabilities: {} });
  const caps = init.capabilities;
  for (const c of ["hoverProvider", "definitionProvider", "completionProvider", "documentSymbolProvider",
    "documentFormattingProvider", "semanticTokensProvider"]) {
    assert.ok(caps[c], `the server does not offer ${c}`);
  }
  conn.sendNotification("initialized", {});
  const file = path.join(ROOT, "specs", "googlenet.cnn");
  const uri = "file://" + file;
  const text = fs.readFileSync(file, "utf8");
  conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: lang.id, version: 1, text } });
  const published = await diagnostics;
  assert.deepStrictEqual([published.uri, published.diagnostics], [uri, []]);
  const line = text.split("\n").findIndex((l) => l.startsWith("stage b1"));
  const hover = await conn.sendRequest("textDocument/hover", {
    textDocument: { uri }, position: { line, character: text.split("\n")[line].indexOf("conv") + 1 },
  });
  assert.match(hover.contents.value, /64x112x112/);
  await conn.sendRequest("shutdown");
  conn.sendNotification("exit");
  const code = await new Promise((resolve) => server.on("exit", resolve));
  assert.strictEqual(code, 0);
  conn.dispose();
  console.log("extension: manifest consistent; the server it starts answers (clean googlenet, hover 64x112x112)");
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
