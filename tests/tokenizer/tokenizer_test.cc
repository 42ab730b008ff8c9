// Unit tests of the tokenizer on tiny hand-made tokenizer.json files built
// here: merges (both JSON forms), merge-rank order, added tokens (special,
// lstrip/rstrip, single_word, normalized), ByteLevel coverage of every byte,
// NFC, streaming decode, the invalid-UTF-8 policy, bad files, thread safety.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "model/tokenizer.h"
#include "model/tokenizer_byte_level.h"
#include "model/tokenizer_json.h"
#include "model/tokenizer_utf8.h"

using namespace msa::model;

namespace {

std::string q(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// Vocab: the 256 ByteLevel characters (id = byte value), then merged tokens.
struct TinySpec {
  std::vector<std::pair<std::string, std::string>> merges;
  bool merges_as_pairs = false;
  std::string pre_tokenizer = R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})";
  std::string normalizer = "null";
  std::string added = "[]";
};

std::string tiny_json(const TinySpec& spec, std::vector<std::string>* tokens_out = nullptr) {
  const auto& bl = ByteLevelAlphabet::get();
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(bl.char_of(uint8_t(b)));
  for (auto& [a, b] : spec.merges) tokens.push_back(a + b);
  std::string vocab = "{";
  for (size_t i = 0; i < tokens.size(); ++i) vocab += (i ? "," : "") + q(tokens[i]) + ":" + std::to_string(i);
  vocab += "}";
  std::string merges = "[";
  for (size_t i = 0; i < spec.merges.size(); ++i) {
    auto& [a, b] = spec.merges[i];
    merges += i ? "," : "";
    merges += spec.merges_as_pairs ? "[" + q(a) + "," + q(b) + "]" : q(a + " " + b);
  }
  merges += "]";
  if (tokens_out) *tokens_out = tokens;
  return R"({"version":"1.0","added_tokens":)" + spec.added + R"(,"normalizer":)" + spec.normalizer +
         R"(,"pre_tokenizer":)" + spec.pre_tokenizer +
         R"(,"post_processor":null,"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","dropout":null,)"
         R"("unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"","fuse_unk":false,)"
         R"("byte_fallback":false,"vocab":)" + vocab + R"(,"merges":)" + merges + "}}";
}

TinySpec hello_spec() {
  TinySpec s;
  s.merges = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"l", "d"},
              {"Ġwor", "ld"}};
  return s;
}

int32_t id_of(const std::vector<std::string>& tokens, const std::string& t) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] == t) return int32_t(i);
  return -1;
}

}  // namespace

TEST(Tokenizer, MergesInBothJsonFormsGiveTheSameIds) {
  TinySpec a = hello_spec(), b = hello_spec();
  b.merges_as_pairs = true;
  std::vector<std::string> tokens;
  Tokenizer ta = Tokenizer::from_json(tiny_json(a, &tokens), "tiny-a");
  Tokenizer tb = Tokenizer::from_json(tiny_json(b), "tiny-b");
  auto ids = ta.encode("hello world");
  EXPECT_EQ(ids, (std::vector<int32_t>{id_of(tokens, "hello"), id_of(tokens, "Ġworld")}));
  EXPECT_EQ(tb.encode("hello world"), ids);
  EXPECT_EQ(ta.decode(ids), "hello world");
}

TEST(Tokenizer, LowestRankMergeWinsThenLeftmost) {
  // "abc": ranks (b,c)=0 < (a,b)=1, so "a" + "bc" even though "ab" is leftmost.
  TinySpec s;
  s.merges = {{"b", "c"}, {"a", "b"}};
  std::vector<std::string> tokens;
  Tokenizer t = Tokenizer::from_json(tiny_json(s, &tokens), "tiny");
  EXPECT_EQ(t.encode("abc"), (std::vector<int32_t>{'a', id_of(tokens, "bc")}));
  // Equal pairs: leftmost first, "aaa" -> "aa" + "a".
  TinySpec s2;
  s2.merges = {{"a", "a"}};
  Tokenizer t2 = Tokenizer::from_json(tiny_json(s2, &tokens), "tiny2");
  EXPECT_EQ(t2.encode("aaa"), (std::vector<int32_t>{id_of(tokens, "aa"), 'a'}));
}

TEST(Tokenizer, EveryByteIsCoveredByByteLevel) {
  Tokenizer t = Tokenizer::from_json(tiny_json(hello_spec()), "tiny");
  // Characters with no merges fall back to one token per UTF-8 byte.
  std::string s = "é€😀\x01\x7f";
  auto ids = t.encode(s);
  ASSERT_EQ(ids.size(), s.size());
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(ids[i], int32_t(static_cast<uint8_t>(s[i])));
  EXPECT_EQ(t.decode(ids), s);
}

TEST(Tokenizer, AddedTokensSpecialAndPlain) {
  TinySpec s = hello_spec();
  s.added = R"([{"id":300,"content":"<|im_start|>","special":true,"normalized":false},
               {"id":301,"content":"<think>","special":false,"normalized":false}])";
  Tokenizer t = Tokenizer::from_json(tiny_json(s), "tiny");
  auto with = t.encode("<|im_start|>hello<think>", true);
  EXPECT_EQ(with.front(), 300);
  EXPECT_EQ(with.back(), 301);
  auto without = t.encode("<|im_start|>hello<think>", false);
  EXPECT_EQ(without.front(), int32_t('<'));  // special text is plain text
  EXPECT_EQ(without.back(), 301);            // non-special added tokens still match
  EXPECT_EQ(t.decode(with), "<|im_start|>hello<think>");
  EXPECT_EQ(t.decode(with, /*skip_special=*/true), "hello<think>");
  EXPECT_TRUE(t.is_special(300));
  EXPECT_FALSE(t.is_special(301));
  EXPECT_EQ(t.token_to_id("<think>"), 301);
  EXPECT_THROW(t.require_token("<nope>"), msa::Error);
}

TEST(Tokenizer, LstripRstripAbsorbWhitespace) {
  TinySpec s = hello_spec();
  s.added = R"([{"id":300,"content":"<sep>","special":true,"lstrip":true,"rstrip":true,"normalized":false},
               {"id":301,"content":"<l>","special":true,"lstrip":true,"normalized":false}])";
  Tokenizer t = Tokenizer::from_json(tiny_json(s), "tiny");
  EXPECT_EQ(t.encode("hello  <sep> \n world"), t.encode("hello<sep>world"));
  auto ids = t.encode("hello <l> world");
  std::vector<int32_t> want = t.encode("hello");
  want.push_back(301);
  auto rest = t.encode(" world");
  want.insert(want.end(), rest.begin(), rest.end());
  EXPECT_EQ(ids, want);
}

TEST(Tokenizer, SingleWordOnlyMatchesWholeWords) {
  TinySpec s = hello_spec();
  s.added = R"([{"id":300,"content":"ab","special":false,"single_word":true,"normalized":false}])";
  Tokenizer t = Tokenizer::from_json(tiny_json(s), "tiny");
  EXPECT_EQ(t.encode("x ab y"), (std::vector<int32_t>{'x', ' ', 300, ' ', 'y'}));
  auto inside = t.encode("xaby");
  EXPECT_EQ(std::count(inside.begin(), inside.end(), 300), 0);
}

TEST(Tokenizer, NormalizedAddedTokenMatchesAfterNfc) {
  TinySpec s = hello_spec();
  s.normalizer = R"({"type":"NFC"})";
  s.added = R"([{"id":300,"content":"caf\u00e9","special":false,"normalized":true}])";
  Tokenizer t = Tokenizer::from_json(tiny_json(s), "tiny");
  EXPECT_EQ(t.encode("cafe\u0301"), (std::vector<int32_t>{300}));
  EXPECT_EQ(t.encode("caf\u00e9"), (std::vector<int32_t>{300}));
}

TEST(Tokenizer, SplitSequencePreTokenizerAndNfc) {
  TinySpec s = hello_spec();
  s.normalizer = R"({"type":"NFC"})";
  s.pre_tokenizer = R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    "behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]})";
  std::vector<std::string> tokens;
  Tokenizer t = Tokenizer::from_json(tiny_json(s, &tokens), "tiny");
  EXPECT_EQ(t.encode("hello world"), (std::vector<int32_t>{id_of(tokens, "hello"), id_of(tokens, "Ġworld")}));
  // NFC: e + U+0301 encodes as the bytes of U+00E9.
  EXPECT_EQ(t.encode("e\u0301"), (std::vector<int32_t>{0xC3, 0xA9}));
  EXPECT_EQ(t.decode(t.encode("e\u0301")), "\u00e9");
  // \s+(?!\S): "a   b" -> "a", "  ", " b"
  EXPECT_EQ(t.encode("a   b").size(), 5u);
}

TEST(Tokenizer, StreamingDecodeNeverSplitsACharacter) {
  Tokenizer t = Tokenizer::from_json(tiny_json(hello_spec()), "tiny");
  std::string text = "hello 世界 😀!";
  auto ids = t.encode(text);  // one id per byte for the non-ASCII parts
  StreamDecoder dec(t);
  std::string out;
  for (int32_t id : ids) {
    std::string piece = dec.push(id);
    EXPECT_TRUE(is_valid_utf8(piece)) << "piece emitted half a character";
    out += piece;
  }
  out += dec.flush();
  EXPECT_EQ(out, text);
  // A dangling partial character is replaced at flush.
  StreamDecoder d2(t);
  EXPECT_EQ(d2.push(0xE4), "");
  EXPECT_EQ(d2.push(0xB8), "");
  EXPECT_EQ(d2.flush(), "\xEF\xBF\xBD");
  // An invalid byte is emitted as U+FFFD immediately.
  StreamDecoder d3(t);
  EXPECT_EQ(d3.push(0xFF), "\xEF\xBF\xBD");
}

TEST(Tokenizer, InvalidUtf8IsReplacedByReplacementCharacter) {
  Tokenizer t = Tokenizer::from_json(tiny_json(hello_spec()), "tiny");
  // Each maximal ill-formed subpart becomes one U+FFFD before encoding.
  EXPECT_EQ(t.encode("a\xFF" "b"), t.encode("a\xEF\xBF\xBD" "b"));
  EXPECT_EQ(t.encode("\xE4\xB8"), t.encode("\xEF\xBF\xBD"));
  EXPECT_EQ(t.encode("\xED\xA0\x80"), t.encode("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));  // surrogate
  EXPECT_EQ(t.encode("\xC0\xAF"), t.encode("\xEF\xBF\xBD\xEF\xBF\xBD"));               // overlong
  EXPECT_EQ(sanitize_utf8("x\xF0\x9F\x98"), "x\xEF\xBF\xBD");
  // Decoding ids that form invalid UTF-8 gives U+FFFD too.
  EXPECT_EQ(t.decode(std::vector<int32_t>{0xFF, 'a'}), "\xEF\xBF\xBD" "a");
}

TEST(Tokenizer, BadFilesGiveClearErrors) {
  auto msg = [](const std::string& json) {
    try {
      Tokenizer::from_json(json, "bad.json");
    } catch (const msa::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg("{").find("bad.json: invalid JSON at line 1"), std::string::npos);
  EXPECT_NE(msg(R"({"model":{"type":"WordPiece","vocab":{}}})").find("unsupported tokenizer model \"WordPiece\""),
            std::string::npos);
  EXPECT_NE(msg(R"({"model":{"type":"Unigram","vocab":[]}})").find("Unigram"), std::string::npos);
  EXPECT_NE(msg(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"}})")
                .find("model.merges[0]: token \"b\" is not in the vocab"),
            std::string::npos);
  EXPECT_NE(msg(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Whitespace"}})")
                .find("unsupported pre-tokenizer type \"Whitespace\""),
            std::string::npos);
  EXPECT_NE(msg(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Split",
               "pattern":{"Regex":"(unclosed"},"behavior":"Isolated"}})").find("cannot compile regex"),
            std::string::npos);
  EXPECT_NE(msg(R"({"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}})").find("model.vocab"), std::string::npos);
  EXPECT_THROW(Tokenizer::load("/nonexistent/tokenizer.json"), msa::Error);
}

TEST(Tokenizer, ConstMethodsAreThreadSafe) {
  Tokenizer t = Tokenizer::from_json(tiny_json(hello_spec()), "tiny");
  std::vector<std::string> texts = {"hello world", "hello hello", "世界 hello", "world, world!"};
  std::vector<std::vector<int32_t>> want;
  for (auto& s : texts) want.push_back(t.encode(s));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        size_t j = size_t(i + k) % texts.size();
        if (t.encode(texts[j]) != want[j] || t.decode(want[j]) != texts[j]) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(TokenizerUtf8, NfcFastPathIsConservative) {
  // Whenever the quick check says "unchanged", full NFC (utf8proc) agrees,
  // for every code point alone and after a base letter.
  auto full_nfc = [](const std::string& s) {
    utf8proc_uint8_t* out = nullptr;
    auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), utf8proc_ssize_t(s.size()), &out,
                          utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    std::string r(reinterpret_cast<const char*>(out), size_t(n));
    std::free(out);
    return r;
  };
  size_t fast = 0;
  for (uint32_t cp = 0x80; cp < 0x30000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string s, t = "A";
    append_utf8(s, cp);
    append_utf8(t, cp);
    if (nfc_is_identity_fast(s)) {
      ++fast;
      ASSERT_EQ(full_nfc(s), s) << "U+" << std::hex << cp;
      ASSERT_EQ(full_nfc(t), t) << "A U+" << std::hex << cp;
    }
  }
  EXPECT_GT(fast, 100000u);  // CJK and most other text takes the fast path
}

TEST(TokenizerUtf8, SegmentedNfcEqualsFullNfc) {
  const std::vector<std::string> pool = {"e", "\u0301", "\u0323", "\u0307", "A", "\u030A", "\u212B", " ", "<",
                                         "\u0338", "\u1100", "\u1161", "\u11A8", "\uAC00", "\u0915", "\u094D",
                                         "\u093C", "\u0B47", "\u0B3E", "\u4E16", "\U0001F600", "\u00EA", "\u0340",
                                         "\u0F73", "\u0CBF", "\u0CD5", "x", "\u05D0", "\u05B7", "\u0958"};
  uint32_t state = 12345;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    for (int k = 0, n = 1 + int(state % 12); k < n; ++k) {
      state = state * 1664525u + 1013904223u;
      s += pool[(state >> 8) % pool.size()];
    }
    ASSERT_EQ(nfc(s), nfc_full(s)) << q(s);
  }
}

TEST(TokenizerJson, StringsAndErrors) {
  JsonValue v = parse_json(R"({"a":"x\u00e9\ud83d\ude00\ud800","b":[1,-2.5e1,true,null]})", "t");
  EXPECT_EQ(v.find("a")->as_string("a"), "x\u00e9\U0001F600\uFFFD");
  EXPECT_EQ(v.find("b")->as_array("b")[1].as_number("n"), -25.0);
  EXPECT_EQ(parse_json("44444444444444444444444", "t").as_number("n"), 4.4444444444444444e22);  // no int overflow
  EXPECT_THROW(parse_json("[1,]", "t"), msa::Error);
  EXPECT_THROW(parse_json("\"abc", "t"), msa::Error);
  EXPECT_THROW(parse_json(std::string(1000, '['), "t"), msa::Error);  // depth limit, no stack overflow
  std::string out;
  append_json_string(out, "a\"\n\xFF");
  EXPECT_EQ(out, "\"a\\\"\\n\\ufffd\"");
}
