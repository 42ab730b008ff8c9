// Placeholder translation unit so the layer library exists before its first real file.
namespace msa::memory {}
