// mustache.js side of bench/template.sh: the same page (inheritance written out by hand, same
// partials) and data, in ROUNDS timed rounds of SECONDS each; prints the best round's renders/s.
// Usage: node bench.js FIXTURES DATA.json OUT.html SECONDS [ROUNDS]
"use strict";
const fs = require("fs");
const path = require("path");
const [dir, dataPath, outPath, secondsArg, roundsArg] = process.argv.slice(2);
const Mustache = require(path.resolve(__dirname, "../node/node_modules/mustache"));

// Escape exactly what quire escapes (mustache.js also escapes / ` =), so both pages are byte-identical.
const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
Mustache.escape = (s) => String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);

const read = (p) => fs.readFileSync(p, "utf8");
const template = read(path.join(dir, "mustachejs/article.mustache"));
const partials = {};
for (const name of ["header", "footer", "byline", "related_item", "comment"]) {
  partials[name] = read(path.join(dir, name + ".mustache"));
}
const view = JSON.parse(read(dataPath));
const seconds = Number(secondsArg || 1);
const ROUNDS = Number(roundsArg || 1);

// Mustache.render caches the parsed template and partials, so this is compile once, render many.
let html = Mustache.render(template, view, partials);
for (let i = 0; i < 500; i++) Mustache.render(template, view, partials);

// The best round counts: the least disturbed by other work on the machine (as in bench.lua).
let best = 0;
let total = 0;
for (let round = 0; round < ROUNDS; round++) {
  let n = 0;
  let elapsed = 0;
  const t0 = process.hrtime.bigint();
  do {
    for (let i = 0; i < 100; i++) html = Mustache.render(template, view, partials);
    n += 100;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (elapsed < seconds);
  total += n;
  best = Math.max(best, n / elapsed);
}

fs.writeFileSync(outPath, html);
console.log(`mustache.js ${Mustache.version} on Node ${process.version}: ${total} renders, ${Buffer.byteLength(html)} bytes per page`);
console.log(`RATE mustachejs ${best.toFixed(1)}`);
