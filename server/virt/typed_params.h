// Conversions between libvirt's virTypedParameter arrays and vmmap types.
//
// Internal to server/virt: this header includes <libvirt/libvirt.h>, which
// nothing outside this directory should see.

#ifndef VMMAP_SERVER_VIRT_TYPED_PARAMS_H_
#define VMMAP_SERVER_VIRT_TYPED_PARAMS_H_

#include <libvirt/libvirt.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/virt/hypervisor.h"

namespace vmmap::virt {

// Owns a heap array built with virTypedParamsAdd*; frees it with
// virTypedParamsFree.
class TypedParamList {
 public:
  TypedParamList() = default;
  TypedParamList(const TypedParamList&) = delete;
  TypedParamList& operator=(const TypedParamList&) = delete;
  ~TypedParamList();

  // Append one parameter. libvirt only fails here on allocation or on an
  // over-long/duplicate key, i.e. programming errors; reported as Internal.
  absl::Status AddULLong(const char* key, unsigned long long value);
  absl::Status AddLLong(const char* key, long long value);

  virTypedParameterPtr params() const { return params_; }
  int size() const { return size_; }

 private:
  virTypedParameterPtr params_ = nullptr;
  int size_ = 0;
  int capacity_ = 0;
};

// Copies libvirt's array into a map keyed by parameter name. Later
// duplicates overwrite earlier ones (libvirt does not emit duplicates for
// stats or scheduler parameters).
std::map<std::string, TypedValue> FlattenTypedParams(const virTypedParameter* params, int n);

// Builds the scheduler parameters (cpu_shares, vcpu_period, vcpu_quota,
// global_*, emulator_*) for the set fields of `update`.
absl::Status CpuTuneToTypedParams(const CpuTuneUpdate& update, TypedParamList& out);

// Reads back the same parameters; keys that are absent or of an unexpected
// type stay unset.
CpuTuneUpdate CpuTuneFromTypedParams(const virTypedParameter* params, int n);

}  // namespace vmmap::virt

#endif  // VMMAP_SERVER_VIRT_TYPED_PARAMS_H_
