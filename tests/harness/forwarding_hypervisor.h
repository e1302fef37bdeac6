// A Hypervisor that forwards every call to another: tests derive from it to
// change one behaviour of libvirt's test driver (a guest that ignores ACPI, a
// domain libvirt is still starting, a listing held until a gate opens) and
// keep the rest real.
#ifndef VMMAP_TESTS_HARNESS_FORWARDING_HYPERVISOR_H_
#define VMMAP_TESTS_HARNESS_FORWARDING_HYPERVISOR_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/virt/hypervisor.h"

namespace vmmap {

class ForwardingHypervisor : public virt::Hypervisor {
 public:
  explicit ForwardingHypervisor(virt::Hypervisor* real) : real_(real) {}
  absl::StatusOr<virt::DomainId> DefineDomain(std::string_view xml) override {
    return real_->DefineDomain(xml);
  }
  absl::Status StartDomain(std::string_view n) override { return real_->StartDomain(n); }
  absl::Status ShutdownDomain(std::string_view n) override { return real_->ShutdownDomain(n); }
  absl::Status DestroyDomain(std::string_view n) override { return real_->DestroyDomain(n); }
  absl::Status UndefineDomain(std::string_view n) override { return real_->UndefineDomain(n); }
  absl::StatusOr<virt::DomainStatus> DomainState(std::string_view n) override {
    return real_->DomainState(n);
  }
  absl::StatusOr<std::string> DomainXml(std::string_view n) override { return real_->DomainXml(n); }
  absl::StatusOr<std::vector<virt::DomainInfo>> ListDomains() override {
    return real_->ListDomains();
  }
  absl::StatusOr<std::vector<virt::DomainInfo>> ListDomainsWithMetadata(
      std::string_view ns) override {
    return real_->ListDomainsWithMetadata(ns);
  }
  absl::StatusOr<std::string> DomainMetadata(std::string_view n, std::string_view ns) override {
    return real_->DomainMetadata(n, ns);
  }
  absl::Status SetSchedulerParameters(std::string_view n, const virt::CpuTuneUpdate& u,
                                      bool live) override {
    return real_->SetSchedulerParameters(n, u, live);
  }
  absl::StatusOr<virt::CpuTuneUpdate> GetSchedulerParameters(std::string_view n) override {
    return real_->GetSchedulerParameters(n);
  }
  absl::Status SetMemoryHardLimit(std::string_view n, uint64_t kib) override {
    return real_->SetMemoryHardLimit(n, kib);
  }
  absl::StatusOr<std::vector<virt::DomainStats>> GetAllDomainStats(
      const std::optional<std::vector<std::string>>& names, unsigned groups) override {
    return real_->GetAllDomainStats(names, groups);
  }
  absl::StatusOr<std::string> AgentCommand(std::string_view n, std::string_view command_json,
                                           int timeout_seconds) override {
    return real_->AgentCommand(n, command_json, timeout_seconds);
  }
  absl::Status Ping() override { return real_->Ping(); }
  uint64_t calls() const override { return real_->calls(); }

 private:
  virt::Hypervisor* real_;
};

}  // namespace vmmap

#endif  // VMMAP_TESTS_HARNESS_FORWARDING_HYPERVISOR_H_
