#pragma once
// How the HTTP front matches a request's path to a route's template. Apart
// from Beast, so that tests and tools can use it cheaply.
#include <array>
#include <cstddef>
#include <stdexcept>
#include <string_view>

namespace tirai::relay::httpd {

// The "{…}" segments of a matched path, in order.
class PathParams {
 public:
  static constexpr std::size_t max = 4;

  std::size_t size() const { return size_; }
  std::string_view operator[](std::size_t i) const {
    if (i >= size_) throw std::out_of_range("the route has no such {…} segment");
    return values_[i];
  }
  void clear() { size_ = 0; }
  bool push(std::string_view v) {
    if (size_ == max) return false;
    values_[size_++] = v;
    return true;
  }

 private:
  std::array<std::string_view, max> values_{};
  std::size_t size_ = 0;
};

// Whether `path` matches the template `pattern` ("/v1/sessions/{id}/end",
// where a "{…}" segment stands for any one segment that is not empty). When
// it does, `params` holds those segments of `path`.
bool match_path(std::string_view pattern, std::string_view path, PathParams& params);

}  // namespace tirai::relay::httpd
