#pragma once

namespace tirai::store {

// How far a commit waits for the disk (PRAGMA synchronous): `normal`
// survives a crash of tiraid, `full` also a power cut. Apart from
// database.hpp so that the config names it without the store.
enum class Synchronous { normal, full };

}  // namespace tirai::store
