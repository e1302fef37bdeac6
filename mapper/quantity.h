// Kubernetes resource quantities ("100m", "1.5Gi", "2e3") parsed exactly.
//
// The grammar is apimachinery's:
//   quantity  ::= signedNumber suffix
//   suffix    ::= binarySI | decimalSI | decimalExponent
//   binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei
//   decimalSI ::= n | u | m | "" | k | M | G | T | P | E
//   decimalExponent ::= ("e" | "E") signedNumber-without-fraction
// Values are kept as an exact rational (digits × 10^e10 × 2^e2), so 0.1 CPU is
// exactly 100 millicores; conversions round up like Quantity.MilliValue().
#ifndef VMMAP_MAPPER_QUANTITY_H_
#define VMMAP_MAPPER_QUANTITY_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace vmmap {

// Exact intermediate arithmetic; __extension__ keeps -Wpedantic quiet.
__extension__ typedef unsigned __int128 QuantityDigits;

class Quantity {
 public:
  // Parses `text`; `field` names where it came from ("spec.containers[0].resources.limits.cpu")
  // and is quoted in every error together with the offending value.
  static absl::StatusOr<Quantity> Parse(absl::string_view text, absl::string_view field);

  // The value in thousandths (CPU millicores), rounded up. Fails with
  // InvalidArgument if the value is negative or exceeds int64.
  absl::StatusOr<int64_t> Milli() const;
  // The value in units (bytes), rounded up. Same failure modes.
  absl::StatusOr<int64_t> Units() const;

  const std::string& text() const { return text_; }
  bool negative() const { return negative_; }

 private:
  Quantity() = default;
  absl::StatusOr<int64_t> Scaled(int decimal_shift) const;

  std::string text_;
  std::string field_;
  bool negative_ = false;
  QuantityDigits digits_ = 0;  // the significant digits, no sign
  int exp10_ = 0;              // value = digits_ × 10^exp10_ × 2^exp2_
  int exp2_ = 0;
};

}  // namespace vmmap

#endif  // VMMAP_MAPPER_QUANTITY_H_
