// Word lists of the synthetic tasks. Hand-written (no external word list is
// available offline); disjointness is checked by tests/data/tasks_test.cc.
#include "data/word_lists.h"

#include <string_view>
#include <vector>

namespace msa::data {
namespace {

const std::vector<std::string_view> kFillerWords = {
    "able", "about", "add", "against", "air", "along", "also", "around", "away", "baby", "back", "bad",
    "below", "better", "boat", "bone", "book", "both", "bottom", "boy", "bring", "brother", "build", "burn",
    "busy", "but", "call", "came", "camp", "capital", "car", "card", "carry", "center", "change", "character",
    "charge", "chief", "child", "choose", "clean", "clear", "close", "cloth", "coat", "common", "company",
    "compare", "complete", "consider", "cook", "cotton", "could", "count", "course", "create", "cross", "cry",
    "cut", "day", "death", "depend", "die", "direct", "discuss", "divide", "does", "dog", "dream", "drive",
    "drop", "each", "earth", "east", "easy", "edge", "else", "end", "energy", "enough", "enter", "equal",
    "exact", "excite", "experience", "eye", "fact", "family", "father", "favor", "feed", "feel", "fig",
    "fill", "final", "fine", "finger", "fire", "five", "fly", "follow", "food", "four", "free", "fruit",
    "garden", "gas", "get", "got", "grand", "great", "group", "half", "have", "heat", "heavy", "help", "high",
    "his", "hole", "hope", "insect", "instant", "iron", "kill", "knew", "lady", "land", "laugh", "least",
    "leave", "length", "less", "level", "like", "list", "locate", "log", "long", "lot", "low", "machine",
    "man", "many", "market", "match", "material", "matter", "may", "me", "meal", "meat", "men", "middle",
    "mile", "minute", "moon", "morning", "motion", "mount", "mouth", "move", "much", "music", "must", "name",
    "nation", "nature", "near", "nor", "note", "noun", "now", "observe", "offer", "oil", "only", "order",
    "other", "our", "oxygen", "parent", "part", "party", "pay", "period", "piece", "plain", "plane", "planet",
    "plant", "play", "poem", "pole", "populate", "possible", "post", "pound", "practice", "prepare",
    "present", "press", "pretty", "probable", "problem", "protect", "prove", "provide", "push", "race", "ran",
    "ready", "receive", "record", "remember", "repeat", "right", "river", "room", "root", "row", "rub",
    "rule", "said", "sail", "salt", "sand", "sat", "save", "say", "school", "science", "score", "season",
    "seat", "section", "see", "seed", "seem", "sell", "sense", "sentence", "settle", "seven", "several",
    "shape", "she", "sheet", "shine", "shoe", "shop", "should", "shout", "sign", "since", "sing", "sister",
    "sit", "size", "so", "soil", "soldier", "sound", "south", "spend", "spread", "star", "steel", "stick",
    "still", "stream", "student", "substance", "such", "supply", "surprise", "swim", "syllable", "ten",
    "test", "thank", "thick", "think", "those", "though", "thought", "thus", "tone", "too", "took", "top",
    "toward", "town", "trade", "triangle", "truck", "true", "turn", "twenty", "two", "usual", "wait", "walk",
    "want", "war", "week", "went", "west", "when", "which", "why", "wife", "winter", "wire", "wish", "with",
    "world", "wrote", "year", "yet",
};
const std::vector<std::string_view> kKeyAdjectives = {
    "red", "blue", "green", "yellow", "purple", "orange", "silver", "golden", "brown", "black", "white",
    "gray", "pink", "crimson", "amber", "violet", "scarlet", "bronze", "copper", "quiet", "loud", "swift",
    "slow", "brave", "calm", "eager", "fierce", "gentle", "happy", "jolly", "lively", "proud", "silly",
    "witty", "bold", "bright", "shiny", "dull", "fuzzy", "smooth", "rough", "soft", "warm", "frozen", "sandy",
    "rocky", "tiny", "huge", "giant", "tall", "narrow", "sharp", "ancient", "modern", "rusty", "wooden",
    "velvet", "silky", "noble", "humble", "royal", "hidden", "lucky", "strange",
};
const std::vector<std::string_view> kKeyNouns = {
    "apple", "banana", "cherry", "lemon", "mango", "melon", "peach", "pear", "plum", "grape", "tiger", "lion",
    "zebra", "horse", "camel", "otter", "badger", "beaver", "rabbit", "wolf", "fox", "bear", "eagle",
    "falcon", "owl", "raven", "swan", "goose", "duck", "whale", "shark", "dolphin", "salmon", "crab",
    "turtle", "lizard", "snake", "frog", "spider", "beetle", "bee", "hammer", "anchor", "arrow", "basket",
    "bell", "bottle", "bucket", "candle", "castle", "chair", "clock", "crown", "drum", "feather", "flag",
    "flute", "glove", "harp", "helmet", "kettle", "ladder", "lamp", "lantern",
};
const std::vector<std::string_view> kCities = {
    "paris", "london", "tokyo", "berlin", "madrid", "rome", "vienna", "prague", "warsaw", "athens", "cairo",
    "lagos", "nairobi", "lima", "quito", "bogota", "havana", "dublin", "oslo", "helsinki", "stockholm",
    "copenhagen", "lisbon", "geneva", "zurich", "munich", "hamburg", "milan", "naples", "venice", "florence",
    "seville", "valencia", "porto", "lyon", "marseille", "nice", "brussels", "antwerp", "amsterdam",
    "rotterdam", "budapest", "sofia", "bucharest", "belgrade", "zagreb", "riga", "tallinn", "vilnius", "kiev",
    "minsk", "moscow", "istanbul", "ankara", "tehran", "baghdad", "beirut", "damascus", "amman", "riyadh",
    "dubai", "doha", "muscat", "karachi", "lahore", "delhi", "mumbai", "chennai", "kolkata", "dhaka",
    "colombo", "kathmandu", "bangkok", "hanoi", "manila", "jakarta", "singapore", "seoul", "beijing",
    "shanghai", "osaka", "kyoto", "sydney", "melbourne", "perth", "auckland", "toronto", "montreal",
    "vancouver", "boston", "chicago", "denver", "dallas", "houston", "miami", "seattle", "phoenix", "atlanta",
    "detroit", "portland", "austin", "memphis", "nashville", "santiago", "caracas", "montevideo",
};
const std::vector<std::string_view> kPeople = {
    "alice", "bob", "carol", "david", "emma", "frank", "grace", "henry", "irene", "jack", "karen", "leo",
    "maria", "nathan", "olivia", "peter", "quinn", "rachel", "sam", "tina", "victor", "wendy", "xavier",
    "yvonne", "zack", "adam", "bella", "chris", "diana", "ethan", "fiona", "george", "hannah", "ivan",
    "julia", "kevin", "laura", "mike", "nina", "oscar", "paula", "ryan", "sarah", "thomas", "uma", "vera",
    "walter", "yusuf", "zoe", "arthur", "beth", "colin", "dora", "edgar", "flora", "gavin", "helen", "isaac",
    "jane", "kyle", "lucy", "martin", "nora", "owen", "penny", "ralph", "sophie", "tom", "ursula", "vince",
    "wanda", "alan", "brenda", "carl", "donna", "eric", "felix", "gloria", "harold", "ingrid", "james",
    "kate", "louis", "megan", "neil", "oliver", "patrick", "rosa", "simon", "teresa", "abby", "brian",
    "cindy", "derek", "elena", "fred", "gina", "hugo", "iris", "jason", "lena", "marco", "nadia", "otis",
    "priya", "rita", "steve", "troy", "ada", "boris",
};
const std::vector<std::string_view> kTemplateWords = {
    "the", "magic", "number", "numbers", "for", "is", "are", "all", "what", "of",
    "city", "where", "lives", "in", "boss", "works", "and",
};

}  // namespace

const std::vector<std::string_view>& filler_words() { return kFillerWords; }
const std::vector<std::string_view>& key_adjectives() { return kKeyAdjectives; }
const std::vector<std::string_view>& key_nouns() { return kKeyNouns; }
const std::vector<std::string_view>& city_names() { return kCities; }
const std::vector<std::string_view>& person_names() { return kPeople; }
const std::vector<std::string_view>& template_words() { return kTemplateWords; }

}  // namespace msa::data
