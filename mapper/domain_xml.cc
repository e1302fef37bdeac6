#include "mapper/domain_xml.h"

#include <string>

#include <pugixml.hpp>

#include "absl/strings/str_cat.h"
#include "mapper/domain_template.h"

namespace vmmap {
namespace {

// The child `name` of `parent`, which the template must have.
pugi::xml_node Require(pugi::xml_node parent, const char* name) {
  pugi::xml_node node = parent.child(name);
  if (!node) {
    // A template edit broke an assumption of this file; fail loudly in tests.
    throw std::logic_error(absl::StrCat("xml_templates/domain.xml lacks <", name, ">"));
  }
  return node;
}

void SetText(pugi::xml_node node, const std::string& text) { node.text().set(text.c_str()); }
void SetNumber(pugi::xml_node node, int64_t value) { node.text().set(static_cast<long long>(value)); }

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
  if (!owner.container_id.empty()) pod.append_attribute("container-id") = owner.container_id.c_str();
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
    if (!spec.kernel_boot->initrd.empty()) SetText(os.append_child("initrd"), spec.kernel_boot->initrd);
    if (!spec.kernel_boot->cmdline.empty()) SetText(os.append_child("cmdline"), spec.kernel_boot->cmdline);
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
  }
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

void FillConsole(pugi::xml_node devices, const std::string& log_path) {
  if (log_path.empty()) return;  // the template's pty console
  pugi::xml_node serial = Require(devices, "serial");
  serial.attribute("type") = "file";
  pugi::xml_node source = serial.prepend_child("source");
  source.append_attribute("path") = log_path.c_str();
  source.append_attribute("append") = "on";
  Require(devices, "console").attribute("type") = "file";
  pugi::xml_node console_source = Require(devices, "console").prepend_child("source");
  console_source.append_attribute("path") = log_path.c_str();
  console_source.append_attribute("append") = "on";
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
  try {
    pugi::xml_node domain = Require(doc, "domain");
    domain.attribute("type") = DomainTypeName(spec.type);
    SetText(Require(domain, "name"), spec.name);
    SetText(Require(domain, "uuid"), spec.uuid);
    FillOwner(Require(domain, "metadata"), spec.owner);
    SetNumber(Require(domain, "memory"), spec.memory_kib);
    SetNumber(Require(domain, "currentMemory"), spec.memory_kib);
    pugi::xml_node memtune = Require(domain, "memtune");
    if (spec.hard_limit_kib) {
      SetNumber(Require(memtune, "hard_limit"), *spec.hard_limit_kib);
    } else {
      domain.remove_child(memtune);
    }
    if (!spec.memory_locked) domain.remove_child(Require(domain, "memoryBacking"));
    SetNumber(Require(domain, "vcpu"), spec.vcpus);
    if (spec.tcg_code_cache_mib) {
      pugi::xml_node cache = Require(domain, "features").append_child("tcg").append_child("tb-cache");
      cache.append_attribute("unit") = "MiB";
      SetNumber(cache, *spec.tcg_code_cache_mib);
    }
    pugi::xml_node cputune = Require(domain, "cputune");
    FillCputune(cputune, spec.cputune);
    if (!cputune.first_child()) domain.remove_child(cputune);
    pugi::xml_node resource = Require(domain, "resource");
    if (spec.resource_partition.empty()) {
      domain.remove_child(resource);
    } else {
      SetText(Require(resource, "partition"), spec.resource_partition);
    }
    pugi::xml_node devices = Require(domain, "devices");
    pugi::xml_node emulator = Require(devices, "emulator");
    if (spec.emulator_path.empty()) {
      devices.remove_child(emulator);
    } else {
      SetText(emulator, spec.emulator_path);
    }
    FillBoot(Require(domain, "os"), devices, Require(devices, "serial"), spec);
    FillConsole(devices, spec.console_log_path);
    Require(Require(devices, "memballoon"), "stats").attribute("period") =
        spec.balloon_stats_period_s;
  } catch (const std::logic_error& e) {
    return absl::InternalError(e.what());
  }
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
