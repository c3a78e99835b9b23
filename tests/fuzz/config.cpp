// Fuzz target: tiraid's TOML config file (relay/config), as an operator's
// editor or a broken deployment could leave it. Invariants: a file is either
// a Config or a ConfigError with a message (nothing else escapes, nothing
// crashes); a Config written back out (effective_config, which
// --print-effective-config shows) reads back as the same settings.
#include "fuzz_check.hpp"
#include "relay/config/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tirai::relay;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::filesystem::path base = "/nonexistent/tirai-fuzz";
  try {
    const Config c = parse_config(text, base);
    const std::string written = effective_config(c);
    try {
      FUZZ_CHECK(effective_config(parse_config(written, base)) == written);
    } catch (const ConfigError& e) {
      // Secrets are written as "[secret]", which no secret key accepts; any
      // other refusal of the relay's own output is a bug.
      if (std::string_view(e.what()).find("secret") == std::string_view::npos)
        std::fprintf(stderr, "the written config was refused: %s\n---\n%s---\n", e.what(), written.c_str());
      FUZZ_CHECK(std::string_view(e.what()).find("secret") != std::string_view::npos);
    }
  } catch (const ConfigError& e) {
    FUZZ_CHECK(*e.what() != '\0');
  }
  return 0;
}
