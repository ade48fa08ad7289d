// The cnndsl extension: a TextMate grammar (syntaxes/) for highlighting, and
// `cnndsl lsp` over stdio for diagnostics, hover, go to definition,
// completion, symbols, formatting and semantic tokens.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const command = vscode.workspace.getConfiguration("cnndsl").get("server.command", ["cnndsl", "lsp"]);
  const [program, ...args] = command;
  return { command: program, args, transport: TransportKind.stdio };
}

async function activate(context) {
  client = new LanguageClient("cnndsl", "cnndsl", serverOptions(), {
    documentSelector: [{ scheme: "file", language: "cnn" }, { scheme: "untitled", language: "cnn" }],
  });
  context.subscriptions.push(client);
  await client.start();
}

async function deactivate() {
  if (client) {
    await client.stop();
  }
}

module.exports = { activate, deactivate, serverOptions };
