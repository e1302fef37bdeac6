#include "server/virt/typed_params.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace vmmap::virt {
namespace {

std::optional<uint64_t> AsUnsigned(const std::map<std::string, TypedValue>& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  if (auto* v = std::get_if<uint64_t>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second); v && *v >= 0) {
    return static_cast<uint64_t>(*v);
  }
  return std::nullopt;
}

std::optional<int64_t> AsSigned(const std::map<std::string, TypedValue>& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  if (auto* v = std::get_if<uint64_t>(&it->second)) {
    return static_cast<int64_t>(*v);
  }
  return std::nullopt;
}

}  // namespace

TypedParamList::~TypedParamList() { virTypedParamsFree(params_, size_); }

absl::Status TypedParamList::AddULLong(const char* key, unsigned long long value) {
  if (virTypedParamsAddULLong(&params_, &size_, &capacity_, key, value) < 0) {
    return absl::InternalError(absl::StrCat("add typed parameter \"", key, "\" failed"));
  }
  return absl::OkStatus();
}

absl::Status TypedParamList::AddLLong(const char* key, long long value) {
  if (virTypedParamsAddLLong(&params_, &size_, &capacity_, key, value) < 0) {
    return absl::InternalError(absl::StrCat("add typed parameter \"", key, "\" failed"));
  }
  return absl::OkStatus();
}

std::map<std::string, TypedValue> FlattenTypedParams(const virTypedParameter* params, int n) {
  std::map<std::string, TypedValue> out;
  for (int i = 0; i < n; ++i) {
    const virTypedParameter& p = params[i];
    TypedValue value;
    switch (p.type) {
      case VIR_TYPED_PARAM_INT:
        value = static_cast<int64_t>(p.value.i);
        break;
      case VIR_TYPED_PARAM_UINT:
        value = static_cast<uint64_t>(p.value.ui);
        break;
      case VIR_TYPED_PARAM_LLONG:
        value = static_cast<int64_t>(p.value.l);
        break;
      case VIR_TYPED_PARAM_ULLONG:
        value = static_cast<uint64_t>(p.value.ul);
        break;
      case VIR_TYPED_PARAM_DOUBLE:
        value = p.value.d;
        break;
      case VIR_TYPED_PARAM_BOOLEAN:
        value = p.value.b != 0;
        break;
      case VIR_TYPED_PARAM_STRING:
        value = std::string(p.value.s ? p.value.s : "");
        break;
      default:
        continue;  // A type newer than this code; skip rather than guess.
    }
    out[p.field] = std::move(value);
  }
  return out;
}

absl::Status CpuTuneToTypedParams(const CpuTuneUpdate& u, TypedParamList& out) {
  absl::Status s;
  if (s.ok() && u.shares) s = out.AddULLong(VIR_DOMAIN_SCHEDULER_CPU_SHARES, *u.shares);
  if (s.ok() && u.period) s = out.AddULLong(VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, *u.period);
  if (s.ok() && u.quota) s = out.AddLLong(VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, *u.quota);
  if (s.ok() && u.global_period)
    s = out.AddULLong(VIR_DOMAIN_SCHEDULER_GLOBAL_PERIOD, *u.global_period);
  if (s.ok() && u.global_quota)
    s = out.AddLLong(VIR_DOMAIN_SCHEDULER_GLOBAL_QUOTA, *u.global_quota);
  if (s.ok() && u.emulator_period)
    s = out.AddULLong(VIR_DOMAIN_SCHEDULER_EMULATOR_PERIOD, *u.emulator_period);
  if (s.ok() && u.emulator_quota)
    s = out.AddLLong(VIR_DOMAIN_SCHEDULER_EMULATOR_QUOTA, *u.emulator_quota);
  return s;
}

CpuTuneUpdate CpuTuneFromTypedParams(const virTypedParameter* params, int n) {
  const std::map<std::string, TypedValue> m = FlattenTypedParams(params, n);
  CpuTuneUpdate u;
  u.shares = AsUnsigned(m, VIR_DOMAIN_SCHEDULER_CPU_SHARES);
  u.period = AsUnsigned(m, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD);
  u.quota = AsSigned(m, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA);
  u.global_period = AsUnsigned(m, VIR_DOMAIN_SCHEDULER_GLOBAL_PERIOD);
  u.global_quota = AsSigned(m, VIR_DOMAIN_SCHEDULER_GLOBAL_QUOTA);
  u.emulator_period = AsUnsigned(m, VIR_DOMAIN_SCHEDULER_EMULATOR_PERIOD);
  u.emulator_quota = AsSigned(m, VIR_DOMAIN_SCHEDULER_EMULATOR_QUOTA);
  return u;
}

}  // namespace vmmap::virt
