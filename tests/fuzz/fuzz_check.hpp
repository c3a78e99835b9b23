#pragma once
// What every fuzz target shares: an invariant that must hold for any input.
// A broken one aborts, which libFuzzer reports as a crash and keeps the
// input; the replay runner (replay_main.cpp) fails on it the same way.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
