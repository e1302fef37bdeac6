#include "mapper/quantity.h"

#include <cctype>
#include <limits>

#include "absl/strings/str_cat.h"

namespace vmmap {
namespace {

using u128 = QuantityDigits;

// 10^38 < 2^128: more significant digits than this cannot be held exactly.
constexpr int kMaxSignificantDigits = 38;
constexpr u128 kInt64Max = static_cast<u128>(std::numeric_limits<int64_t>::max());

absl::Status Invalid(absl::string_view field, absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": invalid quantity \"", text, "\": ", why));
}

struct Suffix {
  absl::string_view text;
  int exp10;
  int exp2;
};

// Longest first so "Mi" wins over "M".
constexpr Suffix kSuffixes[] = {
    {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
    {"Ei", 0, 60}, {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},
    {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
};

}  // namespace

absl::StatusOr<Quantity> Quantity::Parse(absl::string_view text, absl::string_view field) {
  Quantity q;
  q.text_ = std::string(text);
  q.field_ = std::string(field);
  if (text.empty()) return Invalid(field, text, "empty");

  size_t i = 0;
  if (text[i] == '+' || text[i] == '-') {
    q.negative_ = text[i] == '-';
    ++i;
  }
  int significant = 0;
  bool any_digit = false;
  bool seen_point = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      if (seen_point) return Invalid(field, text, "more than one decimal point");
      seen_point = true;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    any_digit = true;
    if (q.digits_ == 0 && c == '0') {
      if (seen_point) --q.exp10_;  // leading fractional zero: 0.05
      continue;
    }
    if (significant == kMaxSignificantDigits) {
      // Further digits cannot change the int64 result except by rounding up;
      // keep exactness by refusing rather than guessing.
      return Invalid(field, text, "too many significant digits");
    }
    q.digits_ = q.digits_ * 10 + static_cast<unsigned>(c - '0');
    ++significant;
    if (seen_point) --q.exp10_;
  }
  if (!any_digit) return Invalid(field, text, "expected a number");

  absl::string_view suffix = text.substr(i);
  if (suffix.empty()) return q;
  // A suffix match first: "1E" is exa, "1E3" an exponent.
  for (const Suffix& s : kSuffixes) {
    if (suffix == s.text) {
      q.exp10_ += s.exp10;
      q.exp2_ = s.exp2;
      return q;
    }
  }
  if (suffix[0] == 'e' || suffix[0] == 'E') {
    absl::string_view exp = suffix.substr(1);
    bool neg = false;
    if (!exp.empty() && (exp[0] == '+' || exp[0] == '-')) {
      neg = exp[0] == '-';
      exp.remove_prefix(1);
    }
    if (exp.empty() || exp.size() > 4) return Invalid(field, text, "bad exponent");
    int value = 0;
    for (char c : exp) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return Invalid(field, text, "bad exponent");
      value = value * 10 + (c - '0');
    }
    q.exp10_ += neg ? -value : value;
    return q;
  }
  return Invalid(
      field, text,
      absl::StrCat("unknown suffix \"", suffix,
                   "\" (expected one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or an exponent)"));
}

absl::StatusOr<int64_t> Quantity::Scaled(int decimal_shift) const {
  if (negative_ && digits_ != 0) return Invalid(field_, text_, "must not be negative");
  if (digits_ == 0) return 0;
  // Built only on failure: a Status with a message costs an allocation.
  const auto too_large = [this] { return Invalid(field_, text_, "too large"); };
  u128 value = digits_;
  int exp10 = exp10_ + decimal_shift;
  // Multiply first (binary, then positive decimal) while it stays exact, so that
  // the single division below rounds once.
  for (int k = 0; k < exp2_; ++k) {
    if (value > kInt64Max * 1000) return too_large();
    value <<= 1;
  }
  for (; exp10 > 0; --exp10) {
    if (value > kInt64Max) return too_large();
    value *= 10;
  }
  if (exp10 < 0) {
    u128 divisor = 1;
    for (; exp10 < 0; ++exp10) {
      if (divisor > kInt64Max * 1000)
        return static_cast<int64_t>(1);  // tiny positive: rounds up to 1
      divisor *= 10;
    }
    value = value / divisor + (value % divisor != 0 ? 1 : 0);
  }
  if (value > kInt64Max) return too_large();
  return static_cast<int64_t>(value);
}

absl::StatusOr<int64_t> Quantity::Milli() const { return Scaled(3); }
absl::StatusOr<int64_t> Quantity::Units() const { return Scaled(0); }

}  // namespace vmmap
