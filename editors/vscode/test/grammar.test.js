// Tokenizes every spec of the repository with VS Code's own TextMate engine
// (vscode-textmate + vscode-oniguruma) and checks the scopes that matter.
// Run: npm install && npm test (from editors/vscode).
"use strict";

const assert = require("assert");
const fs = require("fs");
const path = require("path");
const oniguruma = require("vscode-oniguruma");
const textmate = require("vscode-textmate");

const ROOT = path.resolve(__dirname, "..", "..", "..");
const GRAMMAR = path.join(__dirname, "..", "syntaxes", "cnn.tmLanguage.json");

async function grammar() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async () => textmate.parseRawGrammar(fs.readFileSync(GRAMMAR, "utf8"), GRAMMAR),
  });
  return registry.loadGrammar("source.cnn");
}

function tokenize(g, text) {
  const out = [];
  let state = textmate.INITIAL;
  for (const line of text.split("\n")) {
    const r = g.tokenizeLine(line, state);
    for (const t of r.tokens) {
      out.push({ text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    }
    state = r.ruleStack;
  }
  return out;
}

function scopeOf(tokens, text) {
  const t = tokens.find((x) => x.text === text);
  assert.ok(t, `no token ${JSON.stringify(text)}`);
  return t.scopes[t.scopes.length - 1];
}

function specs(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? specs(path.join(dir, e.name)) : e.name.endsWith(".cnn") ? [path.join(dir, e.name)] : []);
}

(async () => {
  const g = await grammar();
  const files = specs(path.join(ROOT, "specs"));
  assert.ok(files.length >= 20, "the specs were not found");
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const tokens = tokenize(g, text);
    assert.strictEqual(tokens.map((t) => t.text).join(""), text.split("\n").join(""), file);
    assert.strictEqual(scopeOf(tokens, "network"), "storage.type.network.cnn", file);
  }
  const t = tokenize(g, fs.readFileSync(path.join(ROOT, "specs", "resnet50.cnn"), "utf8"));
  assert.strictEqual(scopeOf(t, "bottleneck"), "entity.name.type.block.cnn");
  assert.strictEqual(scopeOf(t, "conv"), "support.function.layer.cnn");
  assert.strictEqual(scopeOf(t, "relu"), "support.function.layer.cnn");
  assert.strictEqual(scopeOf(t, "k"), "variable.parameter.cnn");
  assert.strictEqual(scopeOf(t, "false"), "constant.language.boolean.cnn");
  assert.strictEqual(scopeOf(t, "stem"), "entity.name.section.cnn");
  assert.strictEqual(scopeOf(t, "64"), "constant.numeric.integer.cnn");
  assert.strictEqual(scopeOf(t, "if"), "keyword.control.cnn");
  assert.ok(t.find((x) => x.text.startsWith("# ResNet-50")).scopes.includes("comment.line.number-sign.cnn"));
  const s = tokenize(g, 'stage "s{i}" { f(x) as y -> z }  # "not a string"\nx = 1.5e-3');
  assert.strictEqual(scopeOf(s, '"s{i}"'), "string.quoted.double.cnn");
  assert.strictEqual(scopeOf(s, "f"), "entity.name.function.call.cnn");
  assert.strictEqual(scopeOf(s, "y"), "variable.other.tensor.cnn");
  assert.strictEqual(scopeOf(s, "z"), "variable.other.tensor.cnn");
  assert.strictEqual(scopeOf(s, '# "not a string"'), "comment.line.number-sign.cnn");
  assert.strictEqual(scopeOf(s, "1.5e-3"), "constant.numeric.float.cnn");
  console.log(`grammar: ${files.length} specs tokenized, scopes as expected`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
