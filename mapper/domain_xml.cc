#include "mapper/domain_xml.h"

#include <string>

#include <pugixml.hpp>

#include "absl/strings/str_cat.h"
#include "mapper/domain_template.h"

namespace vmmap {
namespace {

// The template's elements this file fills, each looked up once. A template
// edit that drops one is reported as Internal (a broken invariant of the
// build, caught by every golden test), never thrown.
struct Skeleton {
  pugi::xml_node domain, name, uuid, metadata, memory, current_memory, memtune, hard_limit,
      memory_backing, vcpu, features, cputune, resource, partition, os, devices, emulator, serial,
      console, balloon_stats;
};

absl::StatusOr<Skeleton> FindSkeleton(pugi::xml_document& doc) {
  absl::Status missing;
  auto require = [&missing](pugi::xml_node parent, const char* name) {
    pugi::xml_node node = parent.child(name);
    if (!node && missing.ok()) {
      missing = absl::InternalError(absl::StrCat("xml_templates/domain.xml lacks <", name, ">"));
    }
    return node;
  };
  Skeleton k;
  k.domain = require(doc, "domain");
  k.name = require(k.domain, "name");
  k.uuid = require(k.domain, "uuid");
  k.metadata = require(k.domain, "metadata");
  k.memory = require(k.domain, "memory");
  k.current_memory = require(k.domain, "currentMemory");
  k.memtune = require(k.domain, "memtune");
  k.hard_limit = require(k.memtune, "hard_limit");
  k.memory_backing = require(k.domain, "memoryBacking");
  k.vcpu = require(k.domain, "vcpu");
  k.features = require(k.domain, "features");
  k.cputune = require(k.domain, "cputune");
  k.resource = require(k.domain, "resource");
  k.partition = require(k.resource, "partition");
  k.os = require(k.domain, "os");
  k.devices = require(k.domain, "devices");
  k.emulator = require(k.devices, "emulator");
  k.serial = require(k.devices, "serial");
  k.console = require(k.devices, "console");
  k.balloon_stats = require(require(k.devices, "memballoon"), "stats");
  if (!missing.ok()) return missing;
  return k;
}

void SetText(pugi::xml_node node, const std::string& text) { node.text().set(text.c_str()); }
void SetNumber(pugi::xml_node node, int64_t value) {
  node.text().set(static_cast<long long>(value));
}

void AppendNumber(pugi::xml_node parent, const char* name, const std::optional<int64_t>& value) {
  if (value) SetNumber(parent.append_child(name), *value);
}

void FillOwner(pugi::xml_node metadata, const PodOwner& owner) {
  pugi::xml_node pod = metadata.append_child(absl::StrCat(kMetadataPrefix, ":pod").c_str());
  pod.append_attribute(absl::StrCat("xmlns:", kMetadataPrefix).c_str()) = kMetadataNamespaceUri;
  pod.append_attribute("namespace") = owner.namespace_name.c_str();
  pod.append_attribute("name") = owner.name.c_str();
  pod.append_attribute("uid") = owner.uid.c_str();
  pod.append_attribute("attempt") = owner.attempt;
  if (!owner.sandbox_id.empty()) pod.append_attribute("sandbox-id") = owner.sandbox_id.c_str();
  if (!owner.container_id.empty())
    pod.append_attribute("container-id") = owner.container_id.c_str();
}

void FillCputune(pugi::xml_node cputune, const CpuTune& t) {
  AppendNumber(cputune, "shares", t.shares);
  AppendNumber(cputune, "period", t.period_us);
  AppendNumber(cputune, "quota", t.quota_us);
  AppendNumber(cputune, "global_period", t.global_period_us);
  AppendNumber(cputune, "global_quota", t.global_quota_us);
  AppendNumber(cputune, "emulator_period", t.emulator_period_us);
  AppendNumber(cputune, "emulator_quota", t.emulator_quota_us);
  for (const VcpuPin& pin : t.vcpu_pins) {
    pugi::xml_node node = cputune.append_child("vcpupin");
    node.append_attribute("vcpu") = pin.vcpu;
    node.append_attribute("cpuset") = absl::StrCat(pin.cpu).c_str();
  }
  if (!t.emulator_cpuset.empty()) {
    cputune.append_child("emulatorpin").append_attribute("cpuset") = t.emulator_cpuset.c_str();
  }
}

void FillBoot(pugi::xml_node os, pugi::xml_node devices, pugi::xml_node before,
              const DomainSpec& spec) {
  if (spec.kernel_boot) {
    SetText(os.append_child("kernel"), spec.kernel_boot->kernel);
    if (!spec.kernel_boot->initrd.empty())
      SetText(os.append_child("initrd"), spec.kernel_boot->initrd);
    if (!spec.kernel_boot->cmdline.empty())
      SetText(os.append_child("cmdline"), spec.kernel_boot->cmdline);
  } else {
    os.append_child("boot").append_attribute("dev") = "hd";
  }
  for (const DiskSpec& disk : spec.disks) {
    pugi::xml_node node = devices.insert_child_before("disk", before);
    node.append_attribute("type") = "file";
    node.append_attribute("device") = "disk";
    pugi::xml_node driver = node.append_child("driver");
    driver.append_attribute("name") = "qemu";
    driver.append_attribute("type") = disk.format.c_str();
    node.append_child("source").append_attribute("file") = disk.path.c_str();
    pugi::xml_node target = node.append_child("target");
    target.append_attribute("dev") = disk.target.c_str();
    target.append_attribute("bus") = "virtio";
    if (disk.read_only) node.append_child("readonly");
  }
}

void FillInterface(pugi::xml_node devices, pugi::xml_node before,
                   const std::optional<NetworkInterfaceSpec>& nic) {
  if (!nic) return;
  pugi::xml_node node = devices.insert_child_before("interface", before);
  node.append_attribute("type") = "ethernet";
  if (!nic->mac.empty()) node.append_child("mac").append_attribute("address") = nic->mac.c_str();
  pugi::xml_node target = node.append_child("target");
  target.append_attribute("dev") = nic->tap_name.c_str();
  target.append_attribute("managed") = "no";
  node.append_child("model").append_attribute("type") = "virtio";
  if (nic->mtu > 0) node.append_child("mtu").append_attribute("size") = nic->mtu;
}

// virtio-fs: libvirt starts virtiofsd (`binary`) on the share; 9p: QEMU
// serves it, with guest ownership and modes kept in xattrs (mapped).
// libvirt 9.0 refuses <readonly/> on virtio-fs; those shares are read-only
// by their host-side view and the guest's ro mount instead (shared_dirs.h).
void FillSharedDirectories(pugi::xml_node devices, pugi::xml_node before, const DomainSpec& spec) {
  for (const SharedDirectory& share : spec.shared_dirs) {
    pugi::xml_node fs = devices.insert_child_before("filesystem", before);
    fs.append_attribute("type") = "mount";
    const bool virtiofs = share.driver == SharedFsDriver::kVirtiofs;
    fs.append_attribute("accessmode") = virtiofs ? "passthrough" : "mapped";
    fs.append_child("driver").append_attribute("type") = virtiofs ? "virtiofs" : "path";
    if (virtiofs) {
      pugi::xml_node binary = fs.append_child("binary");
      binary.append_attribute("path") = spec.virtiofs.binary.c_str();
      binary.append_attribute("xattr") = "off";
      binary.append_child("cache").append_attribute("mode") = "none";
      binary.append_child("thread_pool").append_attribute("size") = spec.virtiofs.thread_pool_size;
    }
    fs.append_child("source").append_attribute("dir") = share.source_dir.c_str();
    fs.append_child("target").append_attribute("dir") = share.tag.c_str();
    if (!virtiofs && share.read_only) fs.append_child("readonly");
  }
}

void FillMemoryBacking(Skeleton& k, const DomainSpec& spec) {
  if (spec.memory_shared) {
    k.memory_backing.append_child("source").append_attribute("type") = "memfd";
    k.memory_backing.append_child("access").append_attribute("mode") = "shared";
  }
  if (!spec.memory_locked) k.memory_backing.remove_child("locked");
  if (!k.memory_backing.first_child()) k.domain.remove_child(k.memory_backing);
}

void FillGuestAgentChannel(pugi::xml_node devices, pugi::xml_node before,
                           const std::string& socket) {
  if (socket.empty()) return;
  pugi::xml_node channel = devices.insert_child_before("channel", before);
  channel.append_attribute("type") = "unix";
  pugi::xml_node source = channel.append_child("source");
  source.append_attribute("mode") = "bind";
  source.append_attribute("path") = socket.c_str();
  pugi::xml_node target = channel.append_child("target");
  target.append_attribute("type") = "virtio";
  target.append_attribute("name") = "org.qemu.guest_agent.0";
}

// Collects pugixml's output in a string, without an ostringstream's setup.
class StringWriter : public pugi::xml_writer {
 public:
  explicit StringWriter(std::string& out) : out_(out) {}
  void write(const void* data, size_t size) override {
    out_.append(static_cast<const char*>(data), size);
  }

 private:
  std::string& out_;
};

void FillConsole(Skeleton& k, const std::string& log_path) {
  if (log_path.empty()) return;  // the template's pty console
  for (pugi::xml_node device : {k.serial, k.console}) {
    device.attribute("type") = "file";
    pugi::xml_node source = device.prepend_child("source");
    source.append_attribute("path") = log_path.c_str();
    source.append_attribute("append") = "on";
  }
}

}  // namespace

std::string RenderOwnerMetadata(const PodOwner& owner) {
  pugi::xml_document doc;
  FillOwner(doc, owner);
  std::string out;
  StringWriter writer(out);
  doc.save(writer, "", pugi::format_raw | pugi::format_no_declaration);
  return out;
}

absl::StatusOr<std::string> RenderDomainXml(const DomainSpec& spec) {
  pugi::xml_document doc;
  const absl::string_view skeleton = DomainTemplateXml();
  pugi::xml_parse_result parsed = doc.load_buffer(skeleton.data(), skeleton.size());
  if (!parsed) {
    return absl::InternalError(absl::StrCat("xml_templates/domain.xml: ", parsed.description()));
  }
  absl::StatusOr<Skeleton> skeleton_nodes = FindSkeleton(doc);
  if (!skeleton_nodes.ok()) return skeleton_nodes.status();
  Skeleton& k = *skeleton_nodes;
  k.domain.attribute("type") = DomainTypeName(spec.type);
  SetText(k.name, spec.name);
  SetText(k.uuid, spec.uuid);
  FillOwner(k.metadata, spec.owner);
  SetNumber(k.memory, spec.memory_kib);
  SetNumber(k.current_memory, spec.memory_kib);
  if (spec.hard_limit_kib) {
    SetNumber(k.hard_limit, *spec.hard_limit_kib);
  } else {
    k.domain.remove_child(k.memtune);
  }
  FillMemoryBacking(k, spec);
  SetNumber(k.vcpu, spec.vcpus);
  if (spec.tcg_code_cache_mib) {
    pugi::xml_node cache = k.features.append_child("tcg").append_child("tb-cache");
    cache.append_attribute("unit") = "MiB";
    SetNumber(cache, *spec.tcg_code_cache_mib);
  }
  FillCputune(k.cputune, spec.cputune);
  if (!k.cputune.first_child()) k.domain.remove_child(k.cputune);
  if (spec.resource_partition.empty()) {
    k.domain.remove_child(k.resource);
  } else {
    SetText(k.partition, spec.resource_partition);
  }
  if (spec.emulator_path.empty()) {
    k.devices.remove_child(k.emulator);
  } else {
    SetText(k.emulator, spec.emulator_path);
  }
  FillBoot(k.os, k.devices, k.serial, spec);
  FillSharedDirectories(k.devices, k.serial, spec);
  FillInterface(k.devices, k.serial, spec.network_interface);
  FillConsole(k, spec.console_log_path);
  FillGuestAgentChannel(k.devices, k.balloon_stats.parent(), spec.guest_agent_socket);
  k.balloon_stats.attribute("period") = spec.balloon_stats_period_s;
  // Drop the template's comment; the output is for libvirt and for people.
  for (pugi::xml_node n = doc.first_child(); n;) {
    pugi::xml_node next = n.next_sibling();
    if (n.type() == pugi::node_comment) doc.remove_child(n);
    n = next;
  }
  std::string out;
  StringWriter writer(out);
  doc.save(writer, "  ", pugi::format_indent | pugi::format_no_declaration);
  return out;
}

}  // namespace vmmap
