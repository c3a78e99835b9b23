#pragma once
// A log-linear latency histogram: 64 linear sub-buckets per power of two, so
// every recorded value is kept to within 1/64 (about 1.6%) of itself, from
// 1 ns to about 10^18 ns, in a fixed 4,096-slot array (no allocation while
// recording).
#include <array>
#include <bit>
#include <cstdint>

namespace tirai::bench {

class Histogram {
 public:
  static constexpr int sub_bits = 6;
  static constexpr std::uint64_t sub = 1u << sub_bits;

  void record(std::uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    if (v > max_) max_ = v;
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }

  // The value at quantile q (0..1): the upper edge of the bucket holding it.
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }

 private:
  static std::size_t index(std::uint64_t v) {
    if (v < sub) return static_cast<std::size_t>(v);
    const int msb = 63 - std::countl_zero(v);  // >= sub_bits
    const int shift = msb - sub_bits;
    const auto mantissa = (v >> shift) & (sub - 1);
    return static_cast<std::size_t>((shift + 1) * sub + mantissa);
  }
  static std::uint64_t upper(std::size_t i) {
    if (i < sub) return i;
    const std::uint64_t shift = i / sub - 1;
    const std::uint64_t mantissa = i % sub;
    return ((sub + mantissa + 1) << shift) - 1;
  }

  std::array<std::uint64_t, 64 * 64> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace tirai::bench
