// Bundles editor.js and its CodeMirror packages into one minified script for the web page.
// The bundle starts with the licence notices of the packages it contains, as their MIT
// licences require.

import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";

const OUTPUT = "../src/http/assets/editor.js";

const result = await build({
  entryPoints: ["editor.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  legalComments: "none",
  metafile: true,
  write: false,
  outfile: OUTPUT,
});

const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (match) packages.add(match[1]);
}

const notices = [...packages].sort().map(name => {
  const manifest = JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8"));
  if (manifest.license !== "MIT") {
    throw new Error(`${name} is licensed ${manifest.license}, not MIT. Add its licence notice to build.mjs before bundling it.`);
  }
  const licence = readFileSync(`node_modules/${name}/LICENSE`, "utf8");
  const copyright = licence.split("\n").find(line => /copyright/i.test(line)) || "";
  return ` * ${name} ${manifest.version} (${manifest.license}): ${copyright.trim()}`;
});
// Every bundled package is MIT-licensed by the same author, so one copy of the permission text
// covers all of them.
const permission = readFileSync("node_modules/@codemirror/view/LICENSE", "utf8")
  .split("\n")
  .filter(line => !/copyright \(c\)/i.test(line))
  .join("\n")
  .replace(/\n{3,}/g, "\n\n")
  .trim()
  .replace(/\*\//g, "* /");
const banner = `/*! Shopkeeper rule editor, built from core/web by \`npm run build\`. It bundles:\n${notices.join("\n")}\n *\n${permission}\n*/\n`;

for (const file of result.outputFiles) {
  writeFileSync(file.path, banner + file.text);
  console.log(`${file.path}: ${Math.round((banner.length + file.text.length) / 1024)} KiB from ${packages.size} packages`);
}
